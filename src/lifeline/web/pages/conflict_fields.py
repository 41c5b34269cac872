"""A replication conflict as clinicians compare it (issue 21): the elements in which the centre's
version and the site's differ, each named in clinical words with both values as readable text,
and the merge a clinician's choice per element makes of them.

An element is a top-level element of the resource (https://hl7.org/fhir/R4/elementdefinition.html),
a choice element such as `value[x]` taken as one (https://hl7.org/fhir/R4/formats.html#choice),
and `telecom` one level deeper, by ContactPoint.system, so a changed phone number is not mixed up
with an unchanged e-mail. `id`, `meta` and the narrative `text` are not compared. Lists of things
a person has several of (names, addresses, identifiers, telecom, notes) may keep both sides: the
union, without duplicates.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from lifeline.web.pages.chart import words

SIDES = ("central", "site", "both")
NOT_COMPARED = frozenset({"resourceType", "id", "meta", "text"})
UNIONS = frozenset({"name", "address", "identifier", "telecom", "note", "communication", "contact"})
_CHOICE = re.compile(r"^(value|effective|onset|abatement|deceased|multipleBirth|medication|reported|occurrence)[A-Z]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DAY = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_EIGHT_DIGITS = re.compile(r"^\d{8}$")
Gettext = Callable[[str], str]

# The elements' names in clinical words, by resource type (English: the page translates them).
SHARED = {
    "identifier": "Identifiers",
    "status": "Status",
    "subject": "Patient",
    "patient": "Patient",
    "encounter": "Stay or contact",
    "note": "Notes",
    "category": "Category",
    "clinicalStatus": "Clinical status",
    "verificationStatus": "Verification",
    "onset[x]": "Onset",
    "recordedDate": "Recorded",
    "recorder": "Recorded by",
    "bodySite": "Body site",
    "reasonCode": "Reason",
    "priority": "Priority",
    "type": "Type",
    "telecom.phone": "Phone",
    "telecom.email": "E-mail",
    "telecom.sms": "Text messages",
    "telecom.fax": "Fax",
    "telecom.pager": "Pager",
    "telecom.url": "Web address",
    "telecom.other": "Other contact",
}
LABELS: dict[str, dict[str, str]] = {
    "Patient": {
        "name": "Name",
        "gender": "Sex",
        "birthDate": "Date of birth",
        "deceased[x]": "Deceased",
        "address": "Address",
        "maritalStatus": "Marital status",
        "multipleBirth[x]": "Multiple birth",
        "contact": "Next of kin and contacts",
        "communication": "Languages",
        "generalPractitioner": "General practitioner",
        "managingOrganization": "Responsible organisation",
        "active": "Record in use",
    },
    "Observation": {
        "code": "Test or measurement",
        "value[x]": "Result",
        "effective[x]": "Taken",
        "issued": "Reported",
        "interpretation": "Interpretation",
        "referenceRange": "Reference range",
        "performer": "Performed by",
        "component": "Parts of the result",
        "method": "Method",
        "specimen": "Specimen",
        "dataAbsentReason": "Why there is no result",
    },
    "Condition": {
        "code": "Diagnosis",
        "severity": "Severity",
        "abatement[x]": "Resolved",
        "asserter": "Asserted by",
        "stage": "Stage",
        "evidence": "Evidence",
    },
    "AllergyIntolerance": {
        "code": "Substance",
        "type": "Allergy or intolerance",
        "criticality": "Criticality",
        "reaction": "Reactions",
        "lastOccurrence": "Last reaction",
    },
    "MedicationRequest": {
        "medication[x]": "Medicine",
        "dosageInstruction": "Dose",
        "intent": "Intent",
        "authoredOn": "Prescribed",
        "requester": "Prescribed by",
        "dispenseRequest": "Dispensing",
        "substitution": "Substitution",
        "courseOfTherapyType": "Course",
        "reported[x]": "Reported",
    },
    "DocumentReference": {
        "type": "Type of document",
        "date": "Date",
        "author": "Author",
        "docStatus": "Document status",
        "description": "Description",
        "content": "Content",
        "context": "Context",
        "custodian": "Kept by",
        "authenticator": "Signed by",
        "relatesTo": "Related documents",
    },
    "Encounter": {
        "class": "Kind of contact",
        "period": "Period",
        "location": "Location",
        "serviceProvider": "Department",
        "participant": "Staff",
        "hospitalization": "Admission and discharge",
        "diagnosis": "Diagnoses",
        "statusHistory": "Status history",
        "length": "Duration",
    },
}
# ContactPoint.use in words (https://hl7.org/fhir/R4/valueset-contact-point-use.html).
USES = {"home": "home", "work": "work", "mobile": "mobile", "temp": "temporary", "old": "no longer in use"}
NAME_USES = {"old": "no longer in use", "maiden": "maiden name"}  # HumanName.use worth saying
# The kinds of record in clinical words; other types by their FHIR name.
TYPES = {
    "Patient": "Patient details",
    "Observation": "Result or measurement",
    "Condition": "Diagnosis",
    "AllergyIntolerance": "Allergy or intolerance",
    "MedicationRequest": "Prescription",
    "DocumentReference": "Note or document",
    "Encounter": "Stay or contact",
}
# ContactPoint.system in words (https://hl7.org/fhir/R4/valueset-contact-point-system.html).
SYSTEMS = {
    "phone": "phone",
    "email": "e-mail",
    "sms": "text messages",
    "fax": "fax",
    "pager": "pager",
    "url": "web",
    "other": "other",
}


class BadChoice(ValueError):
    """A choice for an element that is not offered (not central, site or both-where-allowed)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def element_key(name: str) -> str:
    """The element a top-level JSON property belongs to: `valueQuantity` -> `value[x]`."""
    found = _CHOICE.match(name)
    return f"{found.group(1)}[x]" if found else name


def compared(
    res_type: str, central: dict[str, Any], site: dict[str, Any], language: str, gettext: Gettext
) -> list[dict[str, Any]]:
    """The differing elements in the resource's own order, each as {key, label, central, site,
    both}: the centre's and the site's values as lists of readable lines (empty: not recorded)."""
    fields = []
    for key in _keys(central, site):
        mine, theirs = _part(central, key), _part(site, key)
        if mine == theirs:
            continue
        fields.append(
            {
                "key": key,
                "label": gettext(label(res_type, key)),
                "central": _lines(mine, language, gettext),
                "site": _lines(theirs, language, gettext),
                "both": key.split(".")[0] in UNIONS and isinstance(mine, list) and isinstance(theirs, list),
            }
        )
    return fields


def merged(res_type: str, central: dict[str, Any], site: dict[str, Any], choices: dict[str, str]) -> dict[str, Any]:
    """The centre's version with each differing element taken as chosen (`choices`: key ->
    central, site or both; a missing key keeps the centre's). The centre's narrative is dropped
    when anything of the site's is taken: it would no longer describe the data."""
    result = copy.deepcopy(central)
    for field in compared(res_type, central, site, "en", str):
        key, side = field["key"], choices.get(field["key"], "central")
        if side not in SIDES or (side == "both" and not field["both"]):
            raise BadChoice(field["label"])
        if side == "central":
            continue
        chosen = _part(site, key)
        if side == "both":
            chosen = _union(_part(central, key), chosen)
        _put(result, key, chosen)
        result.pop("text", None)
    return result


def label(res_type: str, key: str) -> str:
    """An element's name in clinical words (English; the page translates it): from the tables,
    else the FHIR name split into words (`birthDate` -> "Birth date")."""
    known = LABELS.get(res_type, {}).get(key) or SHARED.get(key)
    if known:
        return known
    words_ = _CAMEL.sub(" ", key.replace("[x]", "").replace(".", " ")).lower()
    return words_[:1].upper() + words_[1:]


def _keys(central: dict[str, Any], site: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for resource in (central, site):
        for name, value in resource.items():
            if name in NOT_COMPARED or name.startswith("_"):
                continue
            if name == "telecom" and isinstance(value, list):
                found = [f"telecom.{_system(point)}" for point in value]
            else:
                found = [element_key(name)]
            keys += [key for key in found if key not in keys]
    return keys


def _system(point: Any) -> str:
    return str(point.get("system") or "other") if isinstance(point, dict) else "other"


def _part(resource: dict[str, Any], key: str) -> Any:
    """The value of element `key` in `resource` (None if absent): for a choice element the one
    property present, as {name: value}; for telecom.<system> the ContactPoints of that system."""
    if key.startswith("telecom."):
        points = [p for p in resource.get("telecom") or [] if f"telecom.{_system(p)}" == key]
        return points or None
    if key.endswith("[x]"):
        found = {name: value for name, value in resource.items() if element_key(name) == key}
        return found or None
    return resource.get(key)


def _put(resource: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("telecom."):
        kept = [p for p in resource.get("telecom") or [] if f"telecom.{_system(p)}" != key]
        resource["telecom"] = kept + list(value or [])
        if not resource["telecom"]:
            del resource["telecom"]
    elif key.endswith("[x]"):
        for name in [name for name in resource if element_key(name) == key]:
            del resource[name]
        resource.update(value or {})
    elif value is None:
        resource.pop(key, None)
    else:
        resource[key] = value


def _union(mine: Any, theirs: Any) -> list[Any]:
    kept = list(mine or []) if isinstance(mine, list) or mine is None else [mine]
    for item in theirs if isinstance(theirs, list) else [theirs] if theirs is not None else []:
        if item not in kept:
            kept.append(item)
    return kept


def _lines(value: Any, language: str, gettext: Gettext) -> list[str]:
    """A value as readable lines: one per item of a list."""
    if value is None:
        return []
    if isinstance(value, dict) and all(_CHOICE.match(name) for name in value):  # a choice element
        value = next(iter(value.values()), None)
    items = value if isinstance(value, list) else [value]
    return [line for line in (readable(item, language, gettext) for item in items) if line]


def readable(value: Any, language: str, gettext: Gettext) -> str:
    """One FHIR value as text, by its shape: HumanName "Given Family", ContactPoint "phone 12 34
    56 78", CodeableConcept its words, Quantity "value unit", Period, Reference, Address, dates in
    the reader's style; anything else as `name: value` pairs."""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, int | float):
        return words.number(value, language)
    if isinstance(value, str):
        if _DAY.match(value) or _MOMENT.match(value):
            return (words.when(value, language) or {}).get("text", value)
        return value
    if isinstance(value, list):
        return "; ".join(readable(item, language, gettext) for item in value)
    if not isinstance(value, dict):
        return ""
    return _structured(value, language, gettext)


def _structured(value: dict[str, Any], language: str, gettext: Gettext) -> str:
    def text(item: Any) -> str:
        return readable(item, language, gettext)

    if "family" in value or "given" in value:  # HumanName
        named = str(value.get("text") or " ".join([*value.get("given", []), value.get("family", "")]).strip())
        return f"{named} ({gettext(NAME_USES[value['use']])})" if value.get("use") in NAME_USES else named
    if value.get("system") in SYSTEMS and "value" in value:  # ContactPoint
        number = str(value["value"])
        if _EIGHT_DIGITS.match(number):  # a Danish number, read in pairs
            number = " ".join(number[i : i + 2] for i in range(0, 8, 2))
        use = f" ({gettext(USES[value['use']])})" if value.get("use") in USES else ""
        return f"{gettext(SYSTEMS[value['system']])} {number}{use}"
    if "doseAndRate" in value or "timing" in value:  # Dosage
        dose = words.dose(value, language)
        return str(dose.get("text") or dose.get("amount") or "")
    if "coding" in value or set(value) == {"text"}:  # CodeableConcept
        return words.concept(value)
    if "value" in value and isinstance(value["value"], int | float) and not isinstance(value["value"], bool):
        amount, unit = words.quantity(value, language)  # Quantity
        return f"{value.get('comparator', '')}{amount} {unit}".strip()
    if "reference" in value or "display" in value:  # Reference, Coding
        return str(value.get("display") or value.get("reference") or value.get("code") or "")
    if "start" in value or "end" in value:  # Period
        return f"{text(value.get('start')) or '…'} – {text(value.get('end')) or '…'}"
    if {"line", "city", "postalCode", "country"} & set(value):  # Address
        place = " ".join(str(value[k]) for k in ("postalCode", "city") if value.get(k))
        return str(
            value.get("text") or ", ".join([*value.get("line", []), place, value.get("country", "")]).strip(", ")
        )
    if "text" in value and ("time" in value or "authorString" in value or "authorReference" in value):  # Annotation
        by = value.get("authorString") or (value.get("authorReference") or {}).get("display")
        return " · ".join(str(part) for part in (value["text"], by, text(value.get("time"))) if part)
    if "value" in value:  # Identifier
        kind = words.concept(value.get("type"))
        return f"{value['value']} ({kind})" if kind else str(value["value"])
    if "attachment" in value or "contentType" in value:  # DocumentReference.content, Attachment
        attachment = value.get("attachment") or value
        return str(attachment.get("title") or attachment.get("contentType") or "")
    if "code" in value:
        return str(value["code"])
    shown = [f"{label('', name)}: {text(item)}" for name, item in value.items() if not name.startswith("_")]
    return "; ".join(part for part in shown if not part.endswith(": "))
