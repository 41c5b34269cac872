"""The patient portal (issue 25): a logged-in patient's own record in plain language, on a phone
first. Every page is a data function plus a template (web/pages/__init__.py); every read and the
one write (their phone and e-mail) go through the core acting as the patient, so the patient's
access rule and the audit trail apply exactly as in the API. The patient is the session's, never
an id from the address or a form: there is no address at which to ask for someone else."""
