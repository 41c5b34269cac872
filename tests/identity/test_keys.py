"""Node keys: the public key set, rotation, replication merges and sealing private keys at rest."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jws

from lifeline.identity.keys import (
    ALGORITHM,
    DEFAULT_RETIREMENT_GRACE,
    InvalidKek,
    KeyRing,
    KeyRingError,
    NodeKey,
    UnsealError,
    load_kek,
    new_kek,
    new_signing_key,
    rotate,
    seal,
    unseal,
)

NOW = 1_750_000_000


def test_new_key_is_named_by_its_thumbprint_and_signs_what_its_public_half_verifies() -> None:
    signing, public = new_signing_key("node-a", NOW)
    assert signing.kid == public.kid == public.verification_key().thumbprint()
    assert (public.node_id, public.created_at, public.status, public.not_after) == ("node-a", NOW, "active", None)
    signed = jws.serialize_compact({"alg": ALGORITHM}, b"hello", signing.private, algorithms=[ALGORITHM])
    assert jws.deserialize_compact(signed, public.verification_key(), algorithms=[ALGORITHM]).payload == b"hello"


def test_private_key_never_shows_in_repr() -> None:
    signing, _ = new_signing_key("node-a", NOW)
    assert str(signing.private.as_dict(private=True)["d"]) not in repr(signing)


def test_key_set_round_trips_through_json_jwks_without_private_material() -> None:
    ring, _ = rotate(KeyRing(), "node-a", NOW)
    ring, _ = rotate(ring, "node-b", NOW + 5)
    ring = ring.retire(ring.keys[0].kid, NOW + 100)
    jwks = json.loads(json.dumps(ring.to_jwks()))
    assert all("d" not in jwk and jwk["use"] == "sig" and jwk["alg"] == ALGORITHM for jwk in jwks["keys"])
    assert KeyRing.from_jwks(jwks) == ring
    assert jwks["keys"][0]["not_after"] == NOW + 100 and "not_after" not in jwks["keys"][1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d": "AAAA"}, "private material"),
        ({"alg": "ES256"}, "not an Ed25519 signing key"),
        ({"kty": "EC"}, "not an Ed25519 signing key"),
        ({"status": "revoked"}, "unknown status"),
        ({"created": "yesterday"}, "integer 'created'"),
        ({"node": ""}, "does not name its node"),
        ({"kid": "chosen-by-attacker"}, "thumbprint"),
        ({"x": "not-a-key"}, "not a valid Ed25519 key"),
    ],
)
def test_replicated_key_that_is_not_what_we_issue_is_refused(change: dict[str, object], message: str) -> None:
    _, public = new_signing_key("node-a", NOW)
    with pytest.raises(KeyRingError, match=message):
        NodeKey.from_jwk({**public.to_jwk(), **change})


def test_jwks_without_keys_list_is_refused() -> None:
    with pytest.raises(KeyRingError, match="'keys' list"):
        KeyRing.from_jwks({"keys": "none"})


def test_rotation_makes_the_new_key_active_and_retires_the_old_one_after_the_grace() -> None:
    ring, first = rotate(KeyRing(), "node-a", NOW)
    ring, _ = rotate(ring, "node-b", NOW)
    ring, second = rotate(ring, "node-a", NOW + 1000)
    active = ring.active_key("node-a")
    assert active is not None and active.kid == second.kid != first.kid
    old = ring.get(first.kid)
    assert old is not None and old.status == "retired" and old.not_after == NOW + 1000 + DEFAULT_RETIREMENT_GRACE
    assert old.usable_at(NOW + 1000 + DEFAULT_RETIREMENT_GRACE - 1)
    assert not old.usable_at(NOW + 1000 + DEFAULT_RETIREMENT_GRACE)
    other = ring.active_key("node-b")
    assert other is not None and other.status == "active"  # rotating one node leaves the others alone
    assert ring.without_expired(NOW + 1000 + DEFAULT_RETIREMENT_GRACE).get(first.kid) is None
    assert len(ring.without_expired(NOW + 1000 + DEFAULT_RETIREMENT_GRACE).keys) == 2


def test_duplicate_kids_are_refused() -> None:
    _, public = new_signing_key("node-a", NOW)
    with pytest.raises(KeyRingError, match="same key id twice"):
        KeyRing((public, public))


def test_retiring_an_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyRingError, match="unknown key id"):
        KeyRing().retire("nope", NOW)


def test_merge_converges_whatever_order_replicas_arrive_in() -> None:
    base, first = rotate(KeyRing(), "node-a", NOW)
    rotated, _ = rotate(base, "node-a", NOW + 10, grace=50)
    elsewhere, _ = rotate(base, "node-b", NOW + 20)
    one_way, other_way = rotated.merge(elsewhere), elsewhere.merge(rotated)
    assert one_way == other_way
    merged_first = one_way.get(first.kid)
    assert merged_first is not None and merged_first.status == "retired" and merged_first.not_after == NOW + 60
    assert len(one_way.keys) == 3
    assert one_way.merge(one_way) == one_way


def test_merge_refuses_a_kid_with_different_key_material() -> None:
    _, public = new_signing_key("node-a", NOW)
    _, impostor = new_signing_key("node-a", NOW)
    forged = NodeKey(kid=public.kid, node_id="node-a", x=impostor.x, created_at=NOW)
    with pytest.raises(KeyRingError, match="different key material"):
        KeyRing((public,)).merge(KeyRing((forged,)))


def test_sealed_key_unseals_with_the_right_kek_and_still_signs() -> None:
    signing, public = new_signing_key("node-a", NOW)
    kek = load_kek(new_kek())
    record = json.loads(json.dumps(seal(signing, kek)))
    assert str(signing.private.as_dict(private=True)["d"]) not in json.dumps(record)
    opened = unseal(record, kek)
    assert (opened.kid, opened.node_id) == (signing.kid, "node-a")
    signed = jws.serialize_compact({"alg": ALGORITHM}, b"x", opened.private, algorithms=[ALGORITHM])
    jws.deserialize_compact(signed, public.verification_key(), algorithms=[ALGORITHM])


def test_wrong_kek_gives_a_clear_error() -> None:
    signing, _ = new_signing_key("node-a", NOW)
    record = seal(signing, load_kek(new_kek()))
    with pytest.raises(UnsealError, match="wrong key-encryption key"):
        unseal(record, load_kek(new_kek()))


@pytest.mark.parametrize("field", ["kid", "node", "ciphertext"])
def test_altered_sealed_record_does_not_open(field: str) -> None:
    signing, _ = new_signing_key("node-a", NOW)
    other, _ = new_signing_key("node-b", NOW)
    kek = load_kek(new_kek())
    record = seal(signing, kek)
    record[field] = seal(other, kek)[field]
    with pytest.raises(UnsealError):
        unseal(record, kek)


def test_incomplete_sealed_record_is_refused() -> None:
    signing, _ = new_signing_key("node-a", NOW)
    kek = load_kek(new_kek())
    with pytest.raises(UnsealError, match="incomplete"):
        unseal({**seal(signing, kek), "alg": "A128GCM"}, kek)
    with pytest.raises(UnsealError, match="malformed"):
        unseal({k: v for k, v in seal(signing, kek).items() if k != "nonce"}, kek)


def test_kek_from_settings_tolerates_a_trailing_newline() -> None:
    text = new_kek()
    assert load_kek(text + "\n") == load_kek(text) and len(load_kek(text)) == 32


@pytest.mark.parametrize(
    "value",
    [
        "",
        "short",
        base64.urlsafe_b64encode(b"\x01" * 31).decode(),
        base64.urlsafe_b64encode(b"\x01" * 33).decode(),
        "!" * 43,
        base64.b64encode(b"\xfb" * 32).decode(),  # standard base64, with '+' and '/'
    ],
)
def test_bad_kek_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(InvalidKek, match="key-encryption key") as caught:
        load_kek(value)
    assert not value or value not in str(caught.value)
