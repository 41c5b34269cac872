"""`/portal/contact`: the patient's contact details, and the form that changes their own phone
number and e-mail address: nothing else of their Patient. The change is an ordinary update
through the core acting as the patient, with the version read (If-Match), so it is authorised by
the access rule (of their own Patient a patient changes `telecom` only: access/deciding.py),
audited, written through at a site, and refused whole if anything else would differ. Which
Patient is the session's: a field added to the form by hand names no one.
https://hl7.org/fhir/R4/http.html#update, https://hl7.org/fhir/R4/datatypes.html#ContactPoint
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.scopes import ScopeSet
from lifeline.web.layout import PageUser
from lifeline.web.pages.portal.record import contact, reader

# The pages read as the patient with `patient/*.rs` (web/layout.py); this one form also updates
# their Patient, and the access rule keeps the update to its telecom.
WRITE_SCOPES = ScopeSet.parse("patient/*.rs patient/Patient.u")
PHONE = re.compile(r"\+?[0-9][0-9 \-]{6,18}[0-9]")
EMAIL = re.compile(r"[^@\s<>\"(),;:]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]{1,63})+")
LONGEST = 254  # an e-mail address's most (RFC 5321 §4.5.3.1.3)
# The messages beside the fields; the template says them in the reader's language.
PHONE_BAD, EMAIL_BAD = "phone-bad", "email-bad"


def writer(service: FhirService, user: PageUser, address: str | None) -> Acting:
    """The core acting as the patient, allowed to update their Patient (the access rule keeps it to telecom)."""
    principal = user.principal
    assert principal is not None
    return service.as_user(dataclasses.replace(principal, scopes=WRITE_SCOPES), address, user.purpose)


def checked(phone: str, email: str) -> tuple[dict[str, str], dict[str, str]]:
    """The typed values, tidied, and the problems by field; an empty field removes that detail."""
    values = {"phone": " ".join(phone.split()), "email": email.strip()}
    errors = {}
    digits = re.sub(r"[^0-9]", "", values["phone"])
    if values["phone"] and (not PHONE.fullmatch(values["phone"]) or not 8 <= len(digits) <= 15):
        errors["phone"] = PHONE_BAD
    if values["email"] and (len(values["email"]) > LONGEST or not EMAIL.fullmatch(values["email"])):
        errors["email"] = EMAIL_BAD
    return values, errors


def _replaced(telecom: list[dict[str, Any]], system: str, value: str) -> list[dict[str, Any]]:
    """`telecom` with its first `system` entry's value replaced (added, or removed when `value` is empty)."""
    kept = list(telecom)
    at = next((i for i, t in enumerate(kept) if t.get("system") == system), None)
    if at is None:
        return (
            [*kept, {"system": system, "value": value, "use": "mobile" if system == "phone" else "home"}]
            if value
            else kept
        )
    if not value:
        return kept[:at] + kept[at + 1 :]
    kept[at] = {**kept[at], "value": value}
    return kept


def form(core: Acting, patient_id: str) -> dict[str, Any]:
    """What the contact page shows: the details as recorded and the form's values."""
    _, patient = reader(core, patient_id)
    shown = contact(patient)
    return {
        "contact": shown,
        "values": {"phone": next(iter(shown["phones"]), ""), "email": next(iter(shown["emails"]), "")},
        "errors": {},
        "saved": False,
    }


def change(core: Acting, patient_id: str, phone: str | None, email: str | None) -> dict[str, Any]:
    """Change the patient's first phone number and e-mail to those typed (a field not sent at all
    keeps its value): the page again with the problems beside their fields (nothing written), or saved."""
    _, patient = reader(core, patient_id)
    recorded = contact(patient)
    phone = next(iter(recorded["phones"]), "") if phone is None else phone
    email = next(iter(recorded["emails"]), "") if email is None else email
    values, errors = checked(phone, email)
    if errors:
        return {"contact": recorded, "values": values, "errors": errors, "saved": False}
    telecom = [t for t in patient.get("telecom") or [] if isinstance(t, dict)]
    changed = _replaced(_replaced(telecom, "phone", values["phone"]), "email", values["email"])
    if changed != telecom:
        body = {**patient, "telecom": changed} if changed else {k: v for k, v in patient.items() if k != "telecom"}
        version = (patient.get("meta") or {}).get("versionId")
        request = FhirRequest(
            "update", "Patient", patient_id, body=body, if_match=f'W/"{version}"' if version else None
        )
        core.handle(request)
    _, now = reader(core, patient_id)
    return {"contact": contact(now), "values": values, "errors": {}, "saved": True}
