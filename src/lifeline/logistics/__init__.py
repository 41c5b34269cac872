"""Patient logistics (issue 24): clinic scheduling, operating theatres, beds and patient flow, and
the orderly way down to emergencies only and back. The rules no write may break live in the core
(fhir/rules); this package holds the work people do with them, through the core acting as the
person (fhir/acting.py)."""
