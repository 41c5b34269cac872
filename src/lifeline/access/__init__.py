"""The access policy: whose record a principal may open, as one SQL condition (issue 5).

The second gate after the SMART scopes (identity/authorize.py), applied in the FHIR core to
every read, search, include, `$everything`, history and write, so no caller can go around it:

- staff see a patient's record while care gives a reason (care.py), or for a few hours after
  breaking the glass (break_glass.py);
- patients see their own compartment and those of their children under 15 (family.py), less the
  results still held back from them (held_results.py);
- system principals (backend services, the operator) are not restricted here.

rule.py turns that into SQL over the search index tables; enforce.py is what the interactions
call; redact.py withholds the address of patients under name and address protection.
"""
