"""The chart of one patient (issue 21), `/patients/{id}`: a header that never scrolls away and a
summary; the later parts (results, vital signs, notes, imaging, timeline, medication) are named
and marked as coming. Built from parts: page.py asks the core, header.py and summary.py turn what
it answered into what the page shows, words.py reads FHIR data types as a clinician does."""
