"""Find a patient, `/find` (web/pages/finder.py): its logic through its JSON form (the same data
function as the page) on both backends, its HTML for what must be shown as text, and the audit
trail of the search. The clinician's care decides what is found: a department, its doctor, and
patients admitted there; a patient with no care there is not found, and by CPR number is said to
exist, with nothing of their record."""

from __future__ import annotations

import base64
import random
import re
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.clock import today
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.identity.sessions import STAFF
from lifeline.web.pages.finder import understood
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import as_patient, logged_in_as


def letters(n: int = 8) -> str:
    """A unique name part: letters only (a digit makes a search word a birth date)."""
    return "".join(random.choices(string.ascii_lowercase, k=n)).capitalize()


def new_cpr(ddmmyy: str | None = None) -> str:
    """A fresh CPR number of the 1900s (7th digit 0-3), random enough not to meet another test's."""
    if ddmmyy is None:
        ddmmyy = f"{random.randint(1, 28):02d}{random.randint(1, 12):02d}{random.randint(30, 99):02d}"
    return f"{ddmmyy}{random.randint(0, 3)}{random.randint(0, 999):03d}"


@dataclass
class Ward:
    """A department, a doctor there, and the patients in their care (by family name)."""

    service: FhirService
    department: str
    doctor: str
    tag: str
    patients: dict[str, str] = field(default_factory=dict)  # family name -> Patient id
    cprs: dict[str, str] = field(default_factory=dict)  # family name -> CPR number

    def put(self, resource: dict[str, Any]) -> None:
        request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
        assert self.service.handle(request).status in (200, 201)

    def patient(self, family: str, given: list[str], in_care: bool = True, **extra: Any) -> str:
        """A Patient (admitted to the department when `in_care`); returns its id."""
        patient_id = f"pat-{uuid.uuid4().hex[:12]}"
        cpr = extra.pop("cpr", None) or new_cpr()
        body = {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": cpr}],
            "name": [{"use": "official", "family": family, "given": given}],
            "gender": "female",
            "birthDate": "1980-05-17",
            "address": [{"use": "home", "line": ["Hovedgaden 1"], "postalCode": "2730", "city": "Herlev"}],
            **extra,
        }
        self.put(body)
        if in_care:
            self.put(
                {
                    "resourceType": "Encounter",
                    "id": f"enc-{uuid.uuid4().hex[:12]}",
                    "status": "in-progress",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "serviceProvider": {"reference": f"Organization/{self.department}"},
                    "period": {"start": "2026-11-20T08:00:00Z"},
                }
            )
        self.patients[family], self.cprs[family] = patient_id, cpr
        return patient_id


def ward_of(service: FhirService) -> Ward:
    """A fresh department and its doctor (a PractitionerRole there), with no patients yet."""
    tag = uuid.uuid4().hex[:8]
    ward = Ward(service, f"dep-{tag}", f"doc-{tag}", tag)
    ward.put({"resourceType": "Organization", "id": ward.department, "name": f"Medicinsk afdeling {tag}"})
    ward.put({"resourceType": "Practitioner", "id": ward.doctor, "name": [{"family": "Læge", "given": ["Ida"]}]})
    ward.put(
        {
            "resourceType": "PractitionerRole",
            "id": f"role-{tag}",
            "active": True,
            "practitioner": {"reference": f"Practitioner/{ward.doctor}"},
            "organization": {"reference": f"Organization/{ward.department}"},
        }
    )
    return ward


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = ward_of(service)
    ward.patient("Hansen", ["Kirsten"], cpr=new_cpr("250758"), birthDate="1958-07-25")
    ward.patient("Müller", ["Jürgen"], gender="male", birthDate="1947-03-02")
    ward.patient("Ærø", ["Søren"], gender="male")
    ward.patient("Østergård", ["Åse"])
    return ward


def doctor_of(service: FhirService, ward: Ward, client: TestClient) -> str:
    """The ward's doctor, logged in at the pages in `client`; returns their user name."""
    staff = add_user(service, practitioner=ward.doctor)
    logged_in_as(service, client, STAFF, username=staff.username, fhir_user=f"Practitioner/{ward.doctor}")
    return staff.username


@pytest.fixture
def web(service: FhirService, ward: Ward) -> Iterator[TestClient]:
    with browser(service) as client:
        doctor_of(service, ward, client)
        yield client


def find(web: TestClient, q: str) -> dict[str, Any]:
    answer = web.get("/find", params={"q": q, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json" and answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def names(found: dict[str, Any]) -> list[str]:
    return [p["name"] for p in found["patients"]]


def test_the_page_is_for_staff_only(service: FhirService) -> None:
    with browser(service) as web:
        answer = web.get("/find", params={"q": "Hansen"})
        assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=%2Ffind%3Fq%3DHansen")
        as_patient(service, web)
        assert web.get("/find").status_code == 403


def test_a_cpr_number_finds_the_patient_with_or_without_the_hyphen(ward: Ward, web: TestClient) -> None:
    cpr = ward.cprs["Hansen"]
    written = f"{cpr[:6]}-{cpr[6:]}"
    for typed in (written, cpr, f"{cpr[:6]} {cpr[6:]}", f"  {written} "):
        found = find(web, typed)
        assert found["kind"] == "cpr" and found["problem"] is None, typed
        assert found["patients"] == [
            {
                "id": ward.patients["Hansen"],
                "href": f"/patients/{ward.patients['Hansen']}",
                "name": "Kirsten Hansen",
                "cpr": written,
                "birthDate": "1958-07-25",
                "age": _age_of("1958-07-25", ward.service),
                "ageMonths": None,
                "sex": "female",
                "area": "2730 Herlev",
                "protectedAddress": False,
                "deceased": False,
                "access": "yes",
            }
        ], typed
        assert found["outsideCare"] is None and found["more"] is False
    page = web.get("/find", params={"q": written}).text
    assert f'href="/patients/{ward.patients["Hansen"]}">Kirsten Hansen</a>' in page
    assert "One patient found." in page and written in page and "2730 Herlev" in page


def test_names_are_found_by_their_start_whatever_the_case_and_accents(ward: Ward, web: TestClient) -> None:
    assert names(find(web, "muller")) == ["Jürgen Müller"]  # ü is u with an accent
    assert names(find(web, "MÜL")) == ["Jürgen Müller"]
    assert names(find(web, "jurgen muller")) == ["Jürgen Müller"]  # every word must match a part
    assert names(find(web, "hans")) == ["Kirsten Hansen"]
    assert names(find(web, "Kirsten, Hansen")) == ["Kirsten Hansen"]
    assert names(find(web, "kirsten muller")) == []
    # æ, ø and å are Danish letters of their own, not accented a and o: found as written, in any case.
    assert names(find(web, "søren")) == ["Søren Ærø"]
    assert names(find(web, "ÆRØ")) == ["Søren Ærø"]
    assert names(find(web, "østergård åse")) == ["Åse Østergård"]
    assert names(find(web, "soren")) == [] and names(find(web, "aero")) == [] and names(find(web, "ase")) == []


def test_a_name_with_a_birth_date_or_year(ward: Ward, web: TestClient) -> None:
    for typed in ("Hansen 1958-07-25", "Hansen 25-07-1958", "hansen 25.07.1958", "25/07/1958 Kirsten", "Hansen 1958"):
        assert names(find(web, typed)) == ["Kirsten Hansen"], typed
    assert names(find(web, "Hansen 26-07-1958")) == []
    assert names(find(web, "25-07-1958")) == ["Kirsten Hansen"]  # a birth date alone


def test_at_most_twenty_are_shown_and_the_page_says_there_are_more(service: FhirService, ward: Ward) -> None:
    family = f"Mange{letters().lower()}"
    for number in range(21):
        ward.patient(family, [f"Barn{string.ascii_lowercase[number]}"])
    with browser(service) as web:
        doctor_of(service, ward, web)
        found = find(web, family)
        assert len(found["patients"]) == 20 and found["more"] is True and found["most"] == 20
        assert [p["name"] for p in found["patients"]] == sorted(p["name"] for p in found["patients"])
        page = web.get("/find", params={"q": family}).text
        assert "20 patients found." in page and "More than 20 patients match" in page
        assert page.count('class="hit"') == 20 + 1  # the rows, and the script's empty row


def test_a_patient_outside_care_is_not_found_and_by_cpr_only_said_to_exist(ward: Ward, web: TestClient) -> None:
    secret = f"Hemmelig{letters().lower()}"
    outsider = ward.patient(
        secret,
        ["Skjult"],
        in_care=False,
        address=[{"use": "home", "line": ["Gemt Vej 9"], "postalCode": "9990", "city": "Skjulby"}],
    )
    cpr = ward.cprs[secret]
    by_name = find(web, secret)
    assert by_name["patients"] == [] and by_name["outsideCare"] is None
    assert by_name["withheld"] is True  # the core's word: some match is outside care, not who
    by_cpr = find(web, f"{cpr[:6]}-{cpr[6:]}")
    assert by_cpr["patients"] == [] and by_cpr["outsideCare"] == {"cpr": f"{cpr[:6]}-{cpr[6:]}"}
    for answer in (by_name, by_cpr):  # nothing of the record, whatever was asked
        shown = orjson.dumps({k: v for k, v in answer.items() if k != "q"}).decode()
        for private in (secret, "Skjult", "Skjulby", "9990", "Gemt", outsider):
            assert private not in shown, private
    page = web.get("/find", params={"q": cpr}).text
    assert "Not in your care" in page and "Break the glass" in page and f"{cpr[:6]}-{cpr[6:]}" in page
    assert 'id="break-the-glass"' in page and "Skjult" not in page and outsider not in page
    # A number no one has: not found, and nothing said to exist.
    nobody = find(web, new_cpr("010101"))
    assert nobody["patients"] == [] and nobody["outsideCare"] is None and nobody["withheld"] is False
    assert "No patient found." in web.get("/find", params={"q": new_cpr("010101")}).text


def test_the_search_is_on_the_audit_trail_as_the_clinicians(service: FhirService, ward: Ward) -> None:
    cpr = ward.cprs["Hansen"]
    with browser(service) as web:
        username = doctor_of(service, ward, web)
        find(web, f"{cpr[:6]}-{cpr[6:]}")
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    searches = [
        e
        for e in events
        if any(a.get("altId") == username for a in e["agent"]) and e["subtype"][0]["code"] == "search-type"
    ]
    assert len(searches) == 1
    event = searches[0]
    queries = [base64.b64decode(x["query"]).decode() for x in event["entity"] if "query" in x]
    assert any(q.startswith("Patient?identifier=") and cpr in q for q in queries), queries
    assert any(x.get("what", {}).get("reference") == f"Patient/{ward.patients['Hansen']}" for x in event["entity"])
    assert event["outcome"] == "0" and event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert {"who": {"display": "lifeline-web"}, "requestor": False, "name": "application"} in event["agent"]


def test_markup_in_a_name_or_the_query_is_shown_as_text(ward: Ward, web: TestClient) -> None:
    ward.patient("<b>x</b>", ["<i>y</i>"])
    found = find(web, "<b>x</b>")
    assert names(found) == ["<i>y</i> <b>x</b>"]
    page = web.get("/find", params={"q": "<b>x</b>"}).text
    assert "&lt;i&gt;y&lt;/i&gt; &lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "<i>y</i>" not in page
    script = '"><script>alert(1)</script>'
    page = web.get("/find", params={"q": script}).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert find(web, script)["patients"] == []


@pytest.mark.parametrize(
    ("typed", "problem", "words"),
    [
        ("", "empty", "Type a name or part of one, a CPR number, or a name and a birth date."),
        ("   ", "empty", "Type a name or part of one"),
        ("H", "too-short", "Type at least 2 letters."),
        ("320758-2065", "bad-cpr", "This is not a possible CPR number"),
        ("2513582065", "bad-cpr", "its first six digits are no date"),
        ("250758-206", "cpr-digits", "A CPR number has 10 digits"),
        ("2507", "cpr-digits", "A CPR number has 10 digits"),
        ("Hansen 31-02-1958", "bad-date", "This is not a possible birth date"),
        ("Hansen 2099-01-01", "bad-date", "This is not a possible birth date"),
        ("Hansen 12345", "bad-date", "This is not a possible birth date"),
        ("x" * 150, "too-long", "That is too long"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_bad_input_is_explained_beside_the_field(web: TestClient, typed: str, problem: str, words: str) -> None:
    found = find(web, typed)
    assert found["problem"] == problem and found["patients"] == [] and found["kind"] is None
    page = web.get("/find", params={"q": typed})
    assert page.status_code == 200 and words in page.text
    if problem != "empty":
        assert re.search(r'<p class="error" id="q-problem">[^<]*' + re.escape(words), page.text)
        assert 'aria-invalid="true"' in page.text


@pytest.mark.parametrize("typed", ["\\$|,", "a\x00b", "Hansen,", "%", "_", "*", "name=x&_id=y", "Ærø)'--"])
def test_odd_text_never_fails(web: TestClient, typed: str) -> None:
    assert web.get("/find", params={"q": typed}).status_code == 200
    found = find(web, typed)
    assert found["patients"] == [] or typed == "Hansen,"


def test_danish_page_texts(web: TestClient) -> None:
    web.get("/language", params={"to": "da", "next": "/find"})
    page = web.get("/find", params={"q": "H"}).text
    assert "Find en patient" in page and "Skriv mindst 2 bogstaver." in page and "CPR-nummer" in page


def test_the_box_understands_cpr_numbers_names_and_dates() -> None:
    on = date(2026, 11, 22)
    assert understood("250758-2065", on).params()[0] == ("identifier", f"{CPR_SYSTEM}|2507582065")
    assert understood("Hansen  Kirsten 25.07.1958", on).params()[:3] == [
        ("name", "Hansen"),
        ("name", "Kirsten"),
        ("birthdate", "1958-07-25"),
    ]
    assert understood("a\\b|c$d", on).params()[0] == ("name", "a\\\\b\\|c\\$d")  # escaped, not parsed
    assert understood("Hansen 2026", on).born == "2026" and understood("Hansen 2027", on).problem == "bad-date"


def _age_of(born: str, service: FhirService) -> int:
    on, (year, month, day) = today(service.clock), map(int, born.split("-"))
    return on.year - year - ((on.month, on.day) < (month, day))
