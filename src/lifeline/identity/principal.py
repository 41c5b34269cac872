"""Who is asking: the principal behind a FHIR request, made from a verified access token.

The FHIR core takes it on `FhirRequest.principal` and decides with it (identity/authorize.py for
scopes, lifeline/access for the care relationship), so the web pages, the API and the tests all
meet the same rules. Three kinds:

- staff: a user linked to a Practitioner (token `fhirUser` = Practitioner/id), `user/` scopes;
- patient: a citizen logged in through the citizen identity provider (`fhirUser` = Patient/id),
  who sees their own compartment and their young children's;
- system: a backend service or an operator's `lifeline token issue` (no `fhirUser`), `system/`
  scopes, trusted as a whole (a registered integration, not a person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeline.identity.scopes import ScopeSet
from lifeline.identity.tokens import AccessToken

STAFF = "staff"
PATIENT = "patient"
SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    kind: str  # staff | patient | system
    subject: str  # the user name, the patient's login subject, or the client id
    client_id: str
    scopes: ScopeSet
    fhir_user: str | None = None  # Practitioner/id or Patient/id
    patient: str | None = None  # the launch context: the one patient an app was opened for
    token: AccessToken | None = field(default=None, compare=False)

    @property
    def practitioner(self) -> str | None:
        if self.fhir_user and self.fhir_user.startswith("Practitioner/"):
            return self.fhir_user.split("/", 1)[1]
        return None

    @property
    def patient_id(self) -> str | None:
        """The logged-in patient's own Patient id (patients only)."""
        if self.kind == PATIENT and self.fhir_user and self.fhir_user.startswith("Patient/"):
            return self.fhir_user.split("/", 1)[1]
        return None

    @property
    def contexts(self) -> tuple[str, ...]:
        """The SMART scope contexts that may speak for this principal."""
        if self.kind == SYSTEM:
            return ("system",)
        return ("user", "patient")


def kind_of(token: AccessToken) -> str:
    """Whom a token speaks for: a staff user (its subject is their user name), a patient, or a system."""
    fhir_user = token.fhir_user
    if fhir_user is None:
        return SYSTEM
    if fhir_user.startswith("Patient/") or fhir_user.startswith("RelatedPerson/"):
        return PATIENT
    return STAFF


def principal_from_token(token: AccessToken) -> Principal:
    fhir_user = token.fhir_user
    return Principal(
        kind=kind_of(token),
        subject=token.subject,
        client_id=token.client_id,
        scopes=ScopeSet.parse(" ".join(token.scopes)),
        fhir_user=fhir_user,
        patient=token.patient,
        token=token,
    )


# The operator at the command line (import, demo data): the CLI already holds the database, so it
# has full trust; its requests still pass the same gates, as this principal.
OPERATOR = Principal(kind=SYSTEM, subject="operator", client_id="lifeline-cli", scopes=ScopeSet.parse("system/*.cruds"))


SITE_CLIENT = "lifeline-site"


def site_principal(site: Any) -> Principal:
    """A site node as it acts through the core's entry (the replication API): a system, with no
    scopes of its own: the replication exchanges are all it may ask for."""
    return Principal(kind=SYSTEM, subject=f"site:{site.site_id}", client_id=SITE_CLIENT, scopes=ScopeSet.parse(""))


def site_reader(node_id: str, client_id: str) -> Principal:
    """A site node reading its own record for its own background work (`client_id` says which:
    the downtime reports, the image copies): read and search, nothing else."""
    return Principal(kind=SYSTEM, subject=f"site:{node_id}", client_id=client_id, scopes=ScopeSet.parse("system/*.rs"))


MESSENGER_CLIENT = "lifeline-messenger"


def messenger(node_id: str) -> Principal:
    """A node sending the messages to patients its bookings wrote (logistics/sending.py): it reads
    the messages and their patients' contact details and marks each message sent; nothing else."""
    scopes = ScopeSet.parse("system/Communication.rus system/Patient.rs")
    return Principal(kind=SYSTEM, subject=f"messenger:{node_id}", client_id=MESSENGER_CLIENT, scopes=scopes)
