"""Sealed paging cursors (fhir/paging.py): opaque, unforgeable, bound to a search and a person,
and opened by every node of a region (which share the key-encryption key)."""

from __future__ import annotations

import base64

import pytest

from lifeline.errors import BadRequest
from lifeline.fhir.paging import CursorSeal, types_param
from lifeline.identity.keys import load_kek, new_kek

KEK = load_kek(new_kek())
PARAMS = [("family", "Hansen"), ("_sort", "-address"), ("_sort", "birthdate"), ("_count", "1")]
POSITION = {"after": ["skjultvej 7", 315532800000000, "Patient", "p1"]}


def test_a_cursor_opens_for_its_search_and_person_at_any_node() -> None:
    token = CursorSeal(KEK, "staff:anna").seal("Patient", PARAMS, POSITION)
    other_node = CursorSeal(bytes(KEK), "staff:anna")
    assert other_node.open("Patient", PARAMS, token) == POSITION
    reordered = [PARAMS[3], PARAMS[0], PARAMS[1], PARAMS[2], ("_page", "ignored")]
    assert other_node.open("Patient", reordered, token) == POSITION
    assert CursorSeal(KEK, "staff:anna").seal("Patient", PARAMS, POSITION) == token  # deterministic


def test_a_cursor_reveals_nothing() -> None:
    token = CursorSeal(KEK, "staff:anna").seal("Patient", PARAMS, POSITION)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"skjultvej" not in raw and b"Patient" not in raw and b"after" not in raw


@pytest.mark.parametrize(
    ("kek", "who", "path", "params"),
    [
        (load_kek(new_kek()), "staff:anna", "Patient", PARAMS),  # another region
        (KEK, "staff:bo", "Patient", PARAMS),  # another person
        (KEK, "patient:anna", "Patient", PARAMS),
        (KEK, "staff:anna", "Practitioner", PARAMS),  # another search
        (KEK, "staff:anna", "Patient", PARAMS[:3]),
        (KEK, "staff:anna", "Patient", [PARAMS[0], PARAMS[2], PARAMS[1], PARAMS[3]]),  # another sort order
    ],
)
def test_a_cursor_is_useless_elsewhere(kek: bytes, who: str, path: str, params: list[tuple[str, str]]) -> None:
    token = CursorSeal(KEK, "staff:anna").seal("Patient", PARAMS, POSITION)
    with pytest.raises(BadRequest, match="follow the Bundle's links as given"):
        CursorSeal(kek, who).open(path, params, token)


@pytest.mark.parametrize("token", ["", "!!!!", "AAAA", "eyJiZWZvcmUiOiB0cnVlfQ", "x" * 4000])
def test_a_garbled_or_forged_cursor_is_a_bad_request(token: str) -> None:
    with pytest.raises(BadRequest, match="follow the Bundle's links as given"):
        CursorSeal(KEK, "staff:anna").open("Patient", PARAMS, token)


def test_a_tampered_cursor_is_a_bad_request() -> None:
    token = CursorSeal(KEK, "staff:anna").seal("Patient", PARAMS, POSITION)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in (0, len(raw) // 2, len(raw) - 1):
        changed = bytearray(raw)
        changed[index] ^= 1
        forged = base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        with pytest.raises(BadRequest):
            CursorSeal(KEK, "staff:anna").open("Patient", PARAMS, forged)


def test_type_names_known_types() -> None:
    known = frozenset({"Slot", "Patient"})
    assert types_param([("_type", "Slot,Patient"), ("_type", "Slot")], known) == ("Patient", "Slot")
    assert types_param([("_type", ""), ("family", "x")], known) is None
    with pytest.raises(BadRequest, match="_type"):
        types_param([("_type", "Slot, Patient")], known)
    with pytest.raises(BadRequest, match="_User"):
        types_param([("_type", "_User")], known)
