"""The world of the authorisation matrix (issue 19, "How to prove it"), built once per module
through the FHIR API as the system client: departments and doctors, the patients whose data the
matrix judges, and one resource for every cell (resource type × owner × state).

Owners and their ties:

- child `X` (born 2016, under 15): Encounter at department A (doctor A cares); mother `M` is a
  registered parent (RelatedPerson MTH carrying her CPR number). Its Patient cells are `X`
  (current), its brother `Xu` (updated to version 2) and its sister `Xd` (deleted), tied alike;
  every other cell of the child is `X`'s own resource.
- teen `T` (born 2005, over 15): the same ties, with father `F` as the registered parent.
- protected `P`: an adult labelled restricted (v3-Confidentiality R) with an address and a phone
  number withheld from staff; doctor A cares. Beside P, three patients of one family name (`N0`
  without an address, `N1` on "Aaa…", `N2` on "Zzz…") tell whether a `_sort=address` looks at
  P's withheld street ("Mmm…").

Doctor B (department B) and doctor G (department B) care for `Y` only; G breaks the glass for `X`.
Each owner also has an Observation (`cond-…`, not a cell) that the conditional writes of the
matrix aim at.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lifeline.fhir.service import FhirService

CPR = "urn:oid:1.2.208.176.1.2"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

# The resource types that can carry a patient's data, by their tie (access/ties.py).
CLINICAL = ("Observation", "Condition", "Encounter", "AllergyIntolerance", "DiagnosticReport", "DocumentReference")
EXTRA = ("Device",)  # tied by `Device.patient`, outside the R4 Patient compartment
CONTEXT = ("Binary",)  # judged as the resource its securityContext names: here the cell's patient
UNTIED = ("Bundle",)  # may hold anyone's data, names no patient the index sees
TYPES = ("Patient", *CLINICAL, *EXTRA, *CONTEXT, *UNTIED)
# The columns of the matrix: (owner, state).
COLUMNS = (
    ("child", "current"),
    ("child", "updated"),
    ("child", "deleted"),
    ("teen", "current"),
    ("teen", "updated"),
    ("teen", "deleted"),
    ("protected", "protected"),
)
OWNER_PATIENT = {"child": "X", "teen": "T", "protected": "P"}
PATIENT_CELL = {
    ("child", "current"): "X",
    ("child", "updated"): "Xu",
    ("child", "deleted"): "Xd",
    ("teen", "current"): "T",
    ("teen", "updated"): "Tu",
    ("teen", "deleted"): "Td",
    ("protected", "protected"): "P",
}
# The search parameter that names a resource's patient (`_id` where there is none).
PATIENT_PARAM = {
    "Patient": "_id",
    "Observation": "subject",
    "Device": "patient",
    "Binary": "_id",
    "Bundle": "_id",
    **{t: "patient" for t in CLINICAL if t != "Observation"},
}


@dataclass(frozen=True)
class Cell:
    res_type: str
    owner: str  # child | teen | protected
    state: str  # current | updated | deleted | protected
    id: str
    patient: str  # the id of the Patient it belongs to (a Patient cell: itself)

    @property
    def ref(self) -> str:
        return f"{self.res_type}/{self.id}"

    @property
    def versions(self) -> int:
        return 1 if self.state in ("current", "protected") else 2

    @property
    def deleted(self) -> bool:
        return self.state == "deleted"

    def name(self) -> str:
        return f"{self.res_type} × {self.owner}/{self.state}"


@dataclass
class World:
    tag: str
    ids: dict[str, str]  # world key -> resource id
    cells: list[Cell]
    since: str  # an instant before the world: type and system history start here
    cpr: dict[str, str]  # world key -> CPR number
    code_system: str  # Condition codes: every owner's Condition is I48.9
    id_system: str  # identifiers of the conditional-write targets and the cells
    secrets: dict[str, str]  # the protected patient's withheld street, city and phone
    family: str  # the family name of P, N0, N1 and N2
    owner_of: dict[str, str] = field(default_factory=dict)  # "Type/id" -> Patient id
    by_ref: dict[str, Cell] = field(default_factory=dict)  # "Type/id" -> its cell

    def cell(self, res_type: str, owner: str, state: str) -> Cell:
        return next(c for c in self.cells if (c.res_type, c.owner, c.state) == (res_type, owner, state))

    def of_type(self, res_type: str) -> list[Cell]:
        return [c for c in self.cells if c.res_type == res_type]


def _ref(kind: str, key: str) -> dict[str, str]:
    return {"reference": f"{kind}/{key}"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cpr(birth: str) -> str:
    """A CPR-shaped number for a birth date (the test's own; never checked for modulus 11)."""
    year, month, day = birth.split("-")
    return f"{day}{month}{year[2:]}{random.randint(0, 3)}{random.randint(0, 999):03d}"


def build(client: Any, service: FhirService) -> World:
    tag = uuid.uuid4().hex[:8]
    keys = ["depA", "depB", "depZ", "wardA", "wardB", "docA", "docB", "docG", "roleA", "roleB", "roleG"]
    keys += ["X", "Xu", "Xd", "T", "Tu", "Td", "P", "M", "F", "Y", "N0", "N1", "N2", "sched", "slot"]
    ids = {key: f"mx-{key.lower()}-{tag}" for key in keys}
    family = f"Sort{tag}"
    secrets = {"street": f"Mmm{tag}vej 7", "city": f"Mby{tag}", "phone": f"+45 5{random.randint(0, 9999999):07d}"}
    world = World(
        tag=tag,
        ids=ids,
        cells=[],
        since="",
        cpr={},
        code_system=f"urn:test:{tag}:icd",
        id_system=f"urn:test:{tag}:id",
        secrets=secrets,
        family=family,
    )

    def put(resource: dict[str, Any]) -> dict[str, Any]:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        response = client.put(url, json=resource, headers=FHIR_JSON)
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    first = put({"resourceType": "Organization", "id": ids["depA"], "name": f"Cardiology {tag}"})
    world.since = first["meta"]["lastUpdated"]
    put({"resourceType": "Organization", "id": ids["depB"], "name": f"Gastro surgery {tag}"})
    put({"resourceType": "Organization", "id": ids["depZ"], "name": f"Empty department {tag}"})
    put({"resourceType": "Location", "id": ids["wardA"], "managingOrganization": _ref("Organization", ids["depA"])})
    put({"resourceType": "Location", "id": ids["wardB"], "managingOrganization": _ref("Organization", ids["depB"])})
    for doc, role, dep in (("docA", "roleA", "depA"), ("docB", "roleB", "depB"), ("docG", "roleG", "depB")):
        put({"resourceType": "Practitioner", "id": ids[doc], "name": [{"family": f"{doc}{tag}"}]})
        put(
            {
                "resourceType": "PractitionerRole",
                "id": ids[role],
                "active": True,
                "practitioner": _ref("Practitioner", ids[doc]),
                "organization": _ref("Organization", ids[dep]),
            }
        )
    put(
        {
            "resourceType": "Schedule",
            "id": ids["sched"],
            "actor": [_ref("Location", ids["wardA"])],
        }
    )
    put(
        {
            "resourceType": "Slot",
            "id": ids["slot"],
            "schedule": _ref("Schedule", ids["sched"]),
            "status": "free",
            "start": "2026-12-01T09:00:00Z",
            "end": "2026-12-01T09:30:00Z",
        }
    )
    births = {"X": "2016-03-01", "Xu": "2017-04-02", "Xd": "2018-05-03", "T": "2005-06-04", "Tu": "2006-07-05"}
    births |= {"Td": "2007-08-06", "P": "1970-09-07", "M": "1985-10-08", "F": "1980-11-09", "Y": "1990-12-10"}
    births |= {"N0": "1975-01-11", "N1": "1975-02-12", "N2": "1975-03-13"}
    for key, birth in births.items():
        world.cpr[key] = _cpr(birth)
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": ids[key],
            "identifier": [{"system": CPR, "value": world.cpr[key]}],
            "name": [{"family": family if key in ("P", "N0", "N1", "N2") else f"Mx{tag}", "given": [key]}],
            "birthDate": birth,
        }
        if key == "P":
            patient["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
            patient["address"] = [{"line": [secrets["street"]], "city": secrets["city"]}]
            patient["telecom"] = [{"system": "phone", "value": secrets["phone"]}]
        elif key == "N1":
            patient["address"] = [{"line": ["Aaa vej 1"], "city": "Aby"}]
        elif key == "N2":
            patient["address"] = [{"line": ["Zzz vej 1"], "city": "Zby"}]
        elif key in ("M", "F"):
            patient["telecom"] = [{"system": "phone", "value": f"4{random.randint(0, 9999999):07d}"}]
        put(patient)
        world.owner_of[f"Patient/{ids[key]}"] = ids[key]
    # Care: an encounter in progress at department A (B for Y) for every patient a doctor sees.
    start = (service.clock() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in ("X", "Xu", "Xd", "T", "Tu", "Td", "P", "N0", "N1", "N2", "Y"):
        dep = "depB" if key == "Y" else "depA"
        put(
            {
                "resourceType": "Encounter",
                "id": f"mx-care-{key.lower()}-{tag}",
                "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": _ref("Patient", ids[key]),
                "serviceProvider": _ref("Organization", ids[dep]),
                "period": {"start": start},
            }
        )
        world.owner_of[f"Encounter/mx-care-{key.lower()}-{tag}"] = ids[key]
    for parent, code, children in (("M", "MTH", ("X", "Xu", "Xd")), ("F", "FTH", ("T", "Tu", "Td"))):
        for child in children:
            rp_id = f"mx-rp-{child.lower()}-{tag}"
            put(
                {
                    "resourceType": "RelatedPerson",
                    "id": rp_id,
                    "patient": _ref("Patient", ids[child]),
                    "relationship": [{"coding": [{"system": ROLE, "code": code}]}],
                    "identifier": [{"system": CPR, "value": world.cpr[parent]}],
                }
            )
            world.owner_of[f"RelatedPerson/{rp_id}"] = ids[child]
    for owner, key in OWNER_PATIENT.items():
        cond_id = f"mx-cond-{owner}-{tag}"
        put(
            {
                "resourceType": "Observation",
                "id": cond_id,
                "status": "final",
                "code": {"text": "conditional target"},
                "subject": _ref("Patient", ids[key]),
                "identifier": [{"system": world.id_system, "value": f"cond-{owner}-{tag}"}],
            }
        )
        world.owner_of[f"Observation/{cond_id}"] = ids[key]
    _cells(world, put, client)
    return world


def _cells(world: World, put: Callable[[dict[str, Any]], dict[str, Any]], client: Any) -> None:
    """One resource per (type, owner, state), written, updated and deleted as its state says."""
    ids, tag = world.ids, world.tag
    for res_type in TYPES:
        for owner, state in COLUMNS:
            if res_type == "Patient":
                key = PATIENT_CELL[(owner, state)]
                cell = Cell(res_type, owner, state, ids[key], ids[key])
                if state == "updated":
                    body = client.get(f"/fhir/Patient/{cell.id}").json()
                    put({**body, "gender": "other"})
            else:
                pid = ids[OWNER_PATIENT[owner]]
                cell = Cell(res_type, owner, state, f"mx-{res_type.lower()}-{owner}-{state}-{tag}", pid)
                other = ids["T" if owner == "child" else "X"]
                put(_resource(world, res_type, cell.id, pid, other, 1))
                if state == "updated":
                    put(_resource(world, res_type, cell.id, pid, other, 2))
            if state == "deleted":
                response = client.delete(f"/fhir/{cell.ref}")
                assert response.status_code in (200, 204), response.text
            world.cells.append(cell)
            world.by_ref[cell.ref] = cell
            world.owner_of[cell.ref] = cell.patient


def _resource(world: World, res_type: str, res_id: str, pid: str, other: str, version: int) -> dict[str, Any]:
    """A resource of `res_type` in patient `pid`'s record; `other` is another patient it merely
    mentions (an Observation's focus), which must never open to whoever sees it."""
    subject = _ref("Patient", pid)
    ident = [{"system": world.id_system, "value": res_id}]
    code = {"coding": [{"system": world.code_system, "code": "I48.9"}]}
    text = f"version {version} of {res_id}"
    bodies: dict[str, dict[str, Any]] = {
        "Observation": {
            "status": "final" if version == 1 else "amended",
            "code": {"text": text},
            "subject": subject,
            "focus": [_ref("Patient", other)],
            "identifier": ident,
        },
        "Condition": {"subject": subject, "code": code, "note": [{"text": text}], "identifier": ident},
        "Encounter": {
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject,
            "period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"},
            "identifier": ident,
        },
        "AllergyIntolerance": {"patient": subject, "code": {"text": text}, "identifier": ident},
        "DiagnosticReport": {
            "status": "final" if version == 1 else "amended",
            "code": {"text": text},
            "subject": subject,
            "identifier": ident,
        },
        "DocumentReference": {
            "status": "current",
            "subject": subject,
            "content": [{"attachment": {"contentType": "text/plain", "data": _b64(text)}}],
            "identifier": ident,
        },
        "Device": {"status": "active", "patient": subject, "identifier": ident, "lotNumber": str(version)},
        "Binary": {"contentType": "text/plain", "securityContext": subject, "data": _b64(text)},
        "Bundle": {
            "type": "collection",
            "identifier": ident[0],
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": text},
                        "subject": subject,
                    },
                }
            ],
        },
    }
    return {"resourceType": res_type, "id": res_id, **bodies[res_type]}
