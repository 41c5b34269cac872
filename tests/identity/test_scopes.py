"""SMART App Launch v2 scopes: parsing, the allows table, and intersection against registration."""

from __future__ import annotations

import pytest

from lifeline.identity.scopes import (
    MalformedScope,
    ResourceScope,
    ScopeSet,
    grant_scopes,
    parse_scope,
    permission_for,
)

LAB = "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


@pytest.mark.parametrize(
    ("text", "context", "resource_type", "permissions", "restriction"),
    [
        ("patient/*.rs", "patient", "*", "rs", ()),
        ("user/Observation.cruds", "user", "Observation", "cruds", ()),
        ("system/Patient.r", "system", "Patient", "r", ()),
        ("user/Encounter.cu", "user", "Encounter", "cu", ()),
        ("patient/*.read", "patient", "*", "rs", ()),
        ("user/*.write", "user", "*", "cud", ()),
        ("user/*.*", "user", "*", "cruds", ()),
        ("system/Observation.read", "system", "Observation", "rs", ()),
        (f"patient/Observation.rs?{LAB}", "patient", "Observation", "rs", (("category", LAB[9:]),)),
        (
            "user/Condition.s?clinical-status=active&code=x",
            "user",
            "Condition",
            "s",
            (("clinical-status", "active"), ("code", "x")),
        ),
    ],
)
def test_clinical_scopes_parse(
    text: str, context: str, resource_type: str, permissions: str, restriction: tuple[tuple[str, str], ...]
) -> None:
    scope = parse_scope(text)
    assert isinstance(scope, ResourceScope)
    assert (scope.context, scope.resource_type, scope.permissions, scope.restriction) == (
        context,
        resource_type,
        permissions,
        restriction,
    )
    assert str(scope) == text  # v1 scopes are echoed as the client wrote them


def test_v1_scope_is_the_same_grant_as_its_v2_form() -> None:
    assert parse_scope("patient/*.read") == parse_scope("patient/*.rs")
    read = parse_scope("patient/*.read")
    assert isinstance(read, ResourceScope) and read.canonical == "patient/*.rs"


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    ],
)
def test_identity_and_launch_scopes_parse_as_themselves(text: str) -> None:
    assert parse_scope(text) == text
    assert ScopeSet.parse(text).has(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("patient/Observation.dus", "in that order"),
        ("patient/Observation.sr", "in that order"),
        ("patient/Observation.rr", "in that order"),
        ("patient/Observation.readwrite", "in that order"),
        ("patient/Observation.x", "in that order"),
        ("patient/observation.rs", "not a FHIR resource type"),
        ("admin/Patient.r", "context must be one of"),
        ("Patient/Observation.r", "expected context"),
        ("patient/*.read?category=x", "needs v2 permissions"),
        ("patient/Observation.rs?category", "not param=value"),
        ("patient/Observation.rs?=laboratory", "not param=value"),
        ("patient/Observation.rs?category=", "not param=value"),
        ("patient/Observation.rs?a=1&", "not param=value"),
        ("patient/Observation.", "expected context"),
        ("patient/*", "expected context"),
        ("Observation.read", "expected context"),
        ("launch/Patient", "expected context"),
        ("launch/", "expected context"),
        ("openid2", "expected context"),
        ("", "expected context"),
    ],
)
def test_malformed_scopes_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(MalformedScope, match=why) as caught:
        parse_scope(text)
    assert caught.value.scope == text


def test_scope_set_parses_a_scope_string_and_collapses_duplicates() -> None:
    scopes = ScopeSet.parse("  openid  patient/*.read patient/*.rs openid launch/patient ")
    assert str(scopes) == "patient/*.read openid launch/patient"
    assert ScopeSet.parse(["user/Patient.r", "fhirUser"]) == ScopeSet.parse("user/Patient.r fhirUser")
    assert str(ScopeSet.parse("")) == ""


def test_one_bad_scope_spoils_the_set() -> None:
    with pytest.raises(MalformedScope, match="user/Patient.dr"):
        ScopeSet.parse("openid user/Patient.dr")
    with pytest.raises(MalformedScope, match="user/Patient.dr"):  # every time: a refusal is not kept
        ScopeSet.parse("openid user/Patient.dr")


def test_a_scope_text_is_parsed_once_and_shared() -> None:
    text = "user/Encounter.rs openid"
    first = ScopeSet.parse(text)
    assert ScopeSet.parse(text) is first  # immutable, so every token with this text shares it
    assert ScopeSet.parse(text.split()) == first and ScopeSet.parse(text.split()) is not first


GRANT = ScopeSet.parse("patient/*.rs user/Observation.cu system/Patient.d user/*.write launch")


@pytest.mark.parametrize(
    ("context", "res_type", "interaction", "allowed"),
    [
        ("patient", "Observation", "r", True),
        ("patient", "Condition", "s", True),
        ("patient", "Condition", "c", False),
        ("patient", "*", "s", True),  # system-level search needs the wildcard
        ("user", "Observation", "c", True),
        ("user", "Observation", "u", True),
        ("user", "Observation", "r", False),
        ("user", "Encounter", "d", True),  # from v1 user/*.write
        ("user", "Encounter", "s", False),
        ("system", "Patient", "d", True),
        ("system", "Patient", "r", False),
        ("system", "Observation", "d", False),
    ],
)
def test_allows_table(context: str, res_type: str, interaction: str, allowed: bool) -> None:
    assert GRANT.allows(context, res_type, interaction) is allowed


def test_empty_set_allows_nothing() -> None:
    assert not ScopeSet().allows("user", "Patient", "r")


@pytest.mark.parametrize(("context", "interaction"), [("admin", "r"), ("user", "read"), ("user", "x"), ("user", "")])
def test_allows_refuses_nonsense_questions(context: str, interaction: str) -> None:
    with pytest.raises(ValueError):
        GRANT.allows(context, "Patient", interaction)


def test_restricted_scope_grants_nothing_through_allows_but_is_offered_to_search() -> None:
    scopes = ScopeSet.parse(f"patient/Observation.rs?{LAB} patient/Condition.rs")
    assert not scopes.allows("patient", "Observation", "r")
    assert scopes.allows("patient", "Condition", "r")
    (lab,) = scopes.restricted_grants("patient", "Observation", "s")
    assert lab.restriction == (("category", LAB[9:]),)
    assert scopes.restricted_grants("patient", "Observation", "c") == ()
    assert scopes.restricted_grants("patient", "Condition", "r") == ()


@pytest.mark.parametrize(
    ("requested", "registered", "granted"),
    [
        ("user/*.cruds", "user/*.rs", "user/*.rs"),
        ("patient/*.read", "patient/*.cruds", "patient/*.read"),
        ("patient/*.*", "patient/*.rs", "patient/*.rs"),
        ("user/*.rs", "user/Patient.r user/Observation.rs", "user/Patient.r user/Observation.rs"),
        ("user/Patient.cruds", "user/*.rs", "user/Patient.rs"),
        ("user/Patient.rs", "user/Observation.rs", ""),
        ("system/*.cruds", "patient/*.cruds", ""),
        ("user/Patient.c", "user/Patient.rs", ""),
        (
            "openid fhirUser launch/patient offline_access",
            "openid fhirUser launch/patient",
            "openid fhirUser launch/patient",
        ),
        (f"patient/Observation.rs?{LAB}", "patient/*.rs", f"patient/Observation.rs?{LAB}"),
        ("patient/Observation.rs", f"patient/Observation.rs?{LAB}", f"patient/Observation.rs?{LAB}"),
        (
            "patient/Observation.rs?status=final",
            f"patient/*.r?{LAB}",
            f"patient/Observation.r?status=final&{LAB}",
        ),
    ],
)
def test_client_never_gets_more_than_it_was_registered_for(requested: str, registered: str, granted: str) -> None:
    result = grant_scopes(requested, registered)
    assert str(result) == granted
    for context in ("patient", "user", "system"):
        for res_type in ("Patient", "Observation", "*"):
            for interaction in "cruds":
                if result.allows(context, res_type, interaction):
                    assert ScopeSet.parse(registered).allows(context, res_type, interaction)
                    assert ScopeSet.parse(requested).allows(context, res_type, interaction)


def test_duplicate_grants_collapse() -> None:
    assert str(grant_scopes("user/Patient.r", "user/*.r user/Patient.rs")) == "user/Patient.r"


@pytest.mark.parametrize(
    ("interaction", "permission"),
    [
        ("create", "c"),
        ("read", "r"),
        ("vread", "r"),
        ("history-instance", "r"),
        ("update", "u"),
        ("patch", "u"),
        ("delete", "d"),
        ("search-type", "s"),
        ("history-type", "s"),
        ("search-system", "s"),
        ("history-system", "s"),
    ],
)
def test_fhir_interactions_map_to_smart_permissions(interaction: str, permission: str) -> None:
    assert permission_for(interaction) == permission


@pytest.mark.parametrize("interaction", ["transaction", "batch", "operation"])
def test_wrappers_have_no_permission_of_their_own(interaction: str) -> None:
    with pytest.raises(ValueError, match="no SMART permission"):
        permission_for(interaction)
