"""A staff user's access tokens die with their login (identity/revocation.py): disabled, or logged
out everywhere, the next check refuses them, within the one second a user's state is kept."""

from __future__ import annotations

import uuid

import pytest

from lifeline.fhir.service import FhirService
from lifeline.identity import records, revocation
from lifeline.identity.node import NodeIdentity
from lifeline.identity.passwords import hash_password
from lifeline.identity.records import User
from lifeline.identity.sessions import log_out_everywhere
from lifeline.identity.tokens import InvalidToken
from tests.identity.helpers import CHEAP, PASSWORD, Clock


@pytest.fixture
def node(service: FhirService) -> tuple[NodeIdentity, Clock]:
    clock = Clock()
    return NodeIdentity(service.repo, service.settings, clock=clock), clock  # the service's node, on a clock of ours


def new_user(service: FhirService) -> User:
    user = User(f"r-{uuid.uuid4().hex[:10]}", "p1", hash_password(PASSWORD, CHEAP))
    records.put_user(service.repo, user, create=True)
    return user


def staff_token(node: NodeIdentity, user: User) -> str:
    return node.issue(
        subject=user.username,
        client_id="ward-app",
        scopes="user/*.rs",
        fhir_user=f"Practitioner/{user.practitioner}",
        sessions_epoch=user.sessions_epoch,
    )


def refused(node: NodeIdentity, token: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        node.verify(token)
    assert caught.value.reason == reason


def test_a_disabled_users_token_is_refused_once_their_state_is_read_again(
    service: FhirService, node: tuple[NodeIdentity, Clock]
) -> None:
    identity, clock = node
    user = new_user(service)
    token = staff_token(identity, user)
    assert identity.verify(token).subject == user.username
    user.active = False
    user.sessions_epoch += 1  # as `lifeline users disable` does
    records.put_user(service.repo, user)
    assert identity.verify(token).subject == user.username  # the state read a moment ago still holds
    clock.now += revocation.STATE_SECONDS
    refused(identity, token, "user disabled")


def test_log_out_everywhere_refuses_older_tokens_and_new_ones_work(
    service: FhirService, node: tuple[NodeIdentity, Clock]
) -> None:
    identity, clock = node
    user = new_user(service)
    old = staff_token(identity, user)
    log_out_everywhere(service.repo, user.username)
    refused(identity, old, "user's sessions ended")
    fresh = staff_token(identity, records.require_user(service.repo, user.username))
    assert identity.verify(fresh).sessions_epoch == 1
    clock.now += revocation.STATE_SECONDS
    refused(identity, old, "user's sessions ended")


def test_a_staff_token_without_the_epoch_dies_at_the_first_log_out_everywhere(
    service: FhirService, node: tuple[NodeIdentity, Clock]
) -> None:
    identity, clock = node
    user = new_user(service)
    token = identity.issue(subject=user.username, client_id="app", scopes="user/*.rs", fhir_user="Practitioner/p1")
    assert identity.verify(token).sessions_epoch is None
    log_out_everywhere(service.repo, user.username)
    clock.now += revocation.STATE_SECONDS
    refused(identity, token, "user's sessions ended")


def test_patients_apps_and_subjects_without_a_login_are_not_staff_to_revoke(
    service: FhirService, node: tuple[NodeIdentity, Clock]
) -> None:
    identity, _ = node
    user = new_user(service)
    user.active = False
    records.put_user(service.repo, user)
    # A patient or an app whose subject happens to be a disabled user's name is not that user.
    patient = identity.issue(subject=user.username, client_id="app", scopes="patient/*.rs", fhir_user="Patient/x")
    system = identity.issue(subject=user.username, client_id="app", scopes="system/*.rs")
    tooling = identity.issue(
        subject=f"n-{uuid.uuid4().hex}", client_id="app", scopes="user/*.rs", fhir_user="Practitioner/p"
    )
    for token in (patient, system, tooling):
        assert identity.verify(token)
