"""Downtime reports (issue 23): what a hospital needs on paper when it loses the record.

Per ward the census with beds and, for each patient, allergies, active medication with doses,
the latest vital signs and key results, and pending orders; per clinic today's appointments; per
operating theatre today's planned operations; a sheet of reserved downtime identifiers for
patients who arrive meanwhile, and afterwards the re-entry of what was written on paper. Each is a PDF
(ReportLab), written encrypted (AES-256-GCM) to the downtime folder with a plain index beside it.
Everything is read through the core acting as the operator or the site (fhir/acting.py), so each
report run is on the audit trail.

- `read.py`: the searches (census, a patient's record, a clinic's or a theatre's day) through the
  audited entry;
- `text.py`: FHIR values as the paper shows them;
- `pdf.py`: the pages (header, "DOWNTIME COPY", page x of y);
- `labels.py`: the reserved identifiers with their check digit;
- `vault.py`: encryption, the current and previous generation, the index;
- `export.py`: one run, from the choice of wards, clinics and theatres to the files;
- `reentry.py`: the identifiers issued, linked to their patients, and what was entered against each.
"""
