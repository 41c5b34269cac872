"""The access rule as SQL over `resource r` and the search index tables.

`AccessRule.allowed` is one subquery: the ids of the patients the principal may see (a UNION of
the care, family and break-the-glass SELECTs). Every resource is then judged by its tie to
patients (access/ties.py: the Patient compartment, https://hl7.org/fhir/R4/compartmentdefinition-patient.html,
and the few ties R4 leaves out of it):

- a Patient: visible when its id is allowed;
- a resource of a tied type: visible when none of its tie references points at a Patient outside
  the allowed set — and, for patients, when one points at an allowed Patient (a patient sees
  their compartment, not every unattached Observation);
- a directory resource (Practitioner, Organization, Location, Slot, …): visible to staff; to
  patients only the directory of their care (`PATIENT_SHARED`);
- a Binary (ties.CONTEXT): visible when its securityContext names a current resource that is
  visible by the rules above (a Patient, a tied resource, a directory one); one step only, so a
  Binary naming a Binary or a Bundle, or naming nothing, is for system principals. For patients,
  a Binary naming a result (which may be held back, below) is not followed either;
- an untied resource (Bundle, …): visible to system principals only.

For patient principals, a result still held back from them (access/held_results.py: its days by
category since it was issued, unless a clinician released it) is not visible either.

On top of that, for every kind of principal (system ones too), the token's scopes: a type they do
not let it read is never shown, not as an `_include`, not in `$everything`, not in history; and a
type it reads only through `patient/` scopes shows only the launch patient's compartment.

Cost: the allowed set is computed once per statement (an uncorrelated subquery; each part is
driven by the index of the links it starts from: search_reference (res_type, param, target_id),
search_token (res_type, param, code), search_date (res_type, param, low, high)). Each candidate row
then costs one probe of search_reference by owner (res_type, res_id) and a lookup in that set. A
search stays driven by its own most selective clause; the rule adds a bounded, indexed check per
row it considers, never a scan of another table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from lifeline.access.held_results import RESULT_TYPES, Holding
from lifeline.access.ties import (
    COMPARTMENT,
    CONTEXT,
    CONTEXT_PARAMS,
    DIRECTORY,
    PATIENT_SHARED,
    UNTIED,
    context_target,
    context_types,
    directory_types,
    tie,
    tie_params,
    untied_types,
)
from lifeline.search.registry import SearchRegistry
from lifeline.storage import param_numbers
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

STAFF = "staff"
PATIENT = "patient"
SYSTEM = "system"  # a registered integration: no care rule, only what its scopes let it read


@dataclass(frozen=True)
class AccessRule:
    kind: str  # staff | patient | system
    allowed: str  # SELECT … of patient ids (unused for system)
    allowed_args: tuple[Any, ...]
    registry: SearchRegistry
    patient_id: str | None = None  # the logged-in patient (patients)
    user: str = ""
    # The types the token's scopes let it read at all; None: every type (issue 19.9).
    readable: frozenset[str] | None = None
    # The launch patient, and the types the token reads only through `patient/` scopes: those
    # show only the launch patient's compartment (SMART's patient context, enforced).
    launch: str | None = None
    launch_types: frozenset[str] = frozenset()
    # The directory types a patient-like rule shows (a launched app's rule: the whole directory).
    shared: frozenset[str] = PATIENT_SHARED
    # Results held back from a patient principal for some days (held_results.py); None: none.
    holding: Holding | None = None

    @property
    def is_patient(self) -> bool:
        return self.kind == PATIENT

    @property
    def is_system(self) -> bool:
        return self.kind == SYSTEM

    def condition(self, res_type: str | None) -> tuple[str, list[Any]]:
        """SQL over `resource r`: the row is visible (for a search of `res_type`, None: any type)."""
        if res_type is not None:
            if self.readable is not None and res_type not in self.readable:
                return "1 = 0", []
            where, args = ("1 = 1", []) if self.is_system else self._for_type(res_type)
            if res_type in self.launch_types:
                launch_where, launch_args = self._launch_rule().condition(res_type)
                where, args = f"({where}) AND ({launch_where})", [*args, *launch_args]
            if self.holding is not None and res_type in RESULT_TYPES:
                held_where, held_args = self.holding.shown(res_type)
                where, args = f"({where}) AND {held_where}", [*args, *held_args]
            return where, args
        where, args = ("1 = 1", []) if self.is_system else self._for_any_type()
        if self.readable is not None:
            marks = ", ".join("?" for _ in self.readable)
            where, args = f"r.res_type IN ({marks}) AND ({where})", [*sorted(self.readable), *args]
        if self.launch_types:
            marks = ", ".join("?" for _ in self.launch_types)
            launch_where, launch_args = self._launch_rule().condition(None)
            where = f"({where}) AND (r.res_type NOT IN ({marks}) OR ({launch_where}))"
            args = [*args, *sorted(self.launch_types), *launch_args]
        if self.holding is not None:
            held_where, held_args = self.holding.shown_any()
            where, args = f"({where}) AND {held_where}", [*args, *held_args]
        return where, args

    def _launch_rule(self) -> AccessRule:
        """The launch patient's compartment (and the directory), as a patient would see it."""
        directory = directory_types(self.registry)
        launch = self.launch or ""
        only = "SELECT CAST(? AS TEXT)"
        return AccessRule(PATIENT, only, (launch,), self.registry, launch, self.user, shared=directory)

    def _for_any_type(self) -> tuple[str, list[Any]]:
        pairs, pair_args = _pairs(self.registry)
        allowed = list(self.allowed_args)
        contextual = context_types(self.registry)
        untied = (*untied_types(self.registry), *contextual)  # a Binary is judged apart, below
        hidden = (
            "NOT EXISTS (SELECT 1 FROM search_reference a WHERE a.res_type = r.res_type AND a.res_id = r.res_id"
            f" AND a.target_type = 'Patient' AND ({pairs}) AND a.target_id NOT IN ({self.allowed}))"
        )
        parts = [f"(r.res_type = 'Patient' AND r.res_id IN ({self.allowed}))"]
        args: list[Any] = [*allowed]
        if self.is_patient:
            shared = ", ".join("?" for _ in self.shared)
            member = (
                "EXISTS (SELECT 1 FROM search_reference m WHERE m.res_type = r.res_type AND m.res_id = r.res_id"
                f" AND m.target_type = 'Patient' AND ({pairs.replace('a.', 'm.')})"
                f" AND m.target_id IN ({self.allowed}))"
            )
            parts.append(f"r.res_type IN ({shared})")
            args += sorted(self.shared)
            parts.append(f"(r.res_type <> 'Patient' AND {member} AND {hidden})")
            args += [*pair_args, *allowed, *pair_args, *allowed]
        else:
            marks = ", ".join("?" for _ in untied)
            parts.append(f"(r.res_type <> 'Patient' AND r.res_type NOT IN ({marks}) AND {hidden})")
            args += [*untied, *pair_args, *allowed]
        if contextual:
            by_context, context_args = self._by_context()
            parts.append(f"(r.res_type IN ({', '.join('?' for _ in contextual)}) AND {by_context})")
            args += [*contextual, *context_args]
        return "(" + " OR ".join(parts) + ")", args

    def _by_context(self) -> tuple[str, list[Any]]:
        """A Binary whose securityContext (`sc`) names a current resource (`t`) the rules above
        show. Flat, with joins, rather than the rule nested in itself: SQLite's parser takes about
        a dozen nested subqueries, and a search already nests the rule several deep. The left join
        `a` finds a tie to a patient outside the allowed set (the rule's `hidden`), `m` one inside
        (the rule's `member`, for patients): one probe of the reference index per Binary."""
        pairs, pair_args = _pairs(self.registry)
        allowed = list(self.allowed_args)
        context, params = param_numbers.condition("sc", param_numbers.of(sorted(CONTEXT_PARAMS.items())))
        tied = _compartment_types(self.registry, self.holding is not None)
        joins = (
            "JOIN resource t ON t.res_type = sc.target_type AND t.res_id = sc.target_id AND NOT t.deleted"
            " LEFT JOIN search_reference a ON a.res_type = sc.target_type AND a.res_id = sc.target_id"
            f" AND sc.target_type <> 'Patient' AND a.target_type = 'Patient' AND ({pairs})"
            f" AND a.target_id NOT IN ({self.allowed})"
        )
        args: list[Any] = [*pair_args, *allowed]
        shown = f"(sc.target_type = 'Patient' AND sc.target_id IN ({self.allowed}))"
        shown_args: list[Any] = [*allowed]
        tied_marks = ", ".join("?" for _ in tied)
        if self.is_patient:
            joins += (
                " LEFT JOIN search_reference m ON m.res_type = sc.target_type AND m.res_id = sc.target_id"
                f" AND m.target_type = 'Patient' AND ({pairs.replace('a.', 'm.')}) AND m.target_id IN ({self.allowed})"
            )
            args += [*pair_args, *allowed]
            shown += f" OR (sc.target_type IN ({tied_marks}) AND m.res_id IS NOT NULL)"
        else:
            shown += f" OR sc.target_type IN ({tied_marks})"
        shown_args += tied
        directory = sorted(self.shared) if self.is_patient else sorted(directory_types(self.registry))
        shown += f" OR sc.target_type IN ({', '.join('?' for _ in directory)})"
        shown_args += directory
        readable = ""
        if self.readable is not None:  # the scopes must reach the named resource's type too
            readable = f" AND sc.target_type IN ({', '.join('?' for _ in self.readable) or 'NULL'})"
            shown_args += sorted(self.readable)
        where = (
            f"EXISTS (SELECT 1 FROM search_reference sc {joins} WHERE sc.res_type = r.res_type"
            f" AND sc.res_id = r.res_id AND {context} AND a.res_id IS NULL"
            f" AND ({shown}){readable})"
        )
        return where, [*args, *params, *shown_args]

    def _for_type(self, res_type: str) -> tuple[str, list[Any]]:
        allowed = list(self.allowed_args)
        if res_type == "Patient":
            return f"r.res_id IN ({self.allowed})", allowed
        params = tie_params(self.registry, res_type)
        if not params:
            kind = tie(self.registry, res_type)
            if kind == CONTEXT:
                return self._by_context()
            if kind != DIRECTORY or (self.is_patient and res_type not in self.shared):
                return "1 = 0", []  # untied types: only system principals
            return "1 = 1", []
        ties, numbers = param_numbers.condition("a", param_numbers.of((res_type, p) for p in params))
        hidden = (
            "NOT EXISTS (SELECT 1 FROM search_reference a WHERE a.res_type = r.res_type AND a.res_id = r.res_id"
            f" AND {ties} AND a.target_type = 'Patient' AND a.target_id NOT IN ({self.allowed}))"
        )
        if not self.is_patient:
            return hidden, [*numbers, *allowed]
        # A patient's few allowed ids drive the query: their compartment members, through the
        # reference index's target lookup.
        member = (
            f"r.res_id IN (SELECT m.res_id FROM search_reference m WHERE {ties.replace('a.', 'm.')}"
            f" AND m.target_type = 'Patient' AND m.target_id IN ({self.allowed}))"
        )
        return f"{member} AND {hidden}", [*numbers, *allowed, *numbers, *allowed]

    def allowed_patients(self, session: Session, patient_ids: list[str]) -> set[str]:
        """Those of `patient_ids` the principal's allowed set holds (one statement); a launch
        patient's limit is the caller's to apply (access/enforce.py check_write)."""
        if not patient_ids:
            return set()
        return session.patients_allowed(patient_ids, self.allowed, self.allowed_args)

    def visible(self, session: Session, res_type: str, res_id: str) -> bool:
        """Whether the current row of res_type/res_id passes the rule (the search's own SQL).

        A deleted resource has no index rows left to judge by, so it is judged by the patients
        its last version named: otherwise its history would be open to every clinician."""
        return self.judge(session, res_type, res_id)[1]

    def judge(self, session: Session, res_type: str, res_id: str) -> tuple[bool, bool]:
        """(whether res_type/res_id exists at all, whether it is visible), by the same queries
        whatever the answer."""
        current = session.read(res_type, res_id)
        return current is not None, self._judged(session, res_type, res_id, current)

    def _judged(self, session: Session, res_type: str, res_id: str, current: StoredVersion | None) -> bool:
        # A Patient is judged by its own id, which its deleted row keeps.
        if current is not None and current.deleted and res_type != "Patient" and tie_params(self.registry, res_type):
            if self.readable is not None and res_type not in self.readable:
                return False
            return self._visible_as_last_written(session, res_type, res_id, current.version_id)
        if current is not None and current.deleted and tie(self.registry, res_type) == CONTEXT:
            if self.readable is not None and res_type not in self.readable:
                return False
            return self._context_as_last_written(session, res_type, res_id, current.version_id)
        where, args = self.condition(res_type)
        return session.row_matches(res_type, res_id, where, args)

    def _context_as_last_written(self, session: Session, res_type: str, res_id: str, deleted_at: int) -> bool:
        """A deleted Binary, as the resource its last version's securityContext names is now."""
        if self.is_system:
            return True
        stored = _last_content(session, res_type, res_id, deleted_at)
        target = context_target(orjson.loads(stored.content)) if stored and stored.content else None
        if target is None or tie(self.registry, target[0]) in (CONTEXT, UNTIED):
            return False
        return self.visible(session, *target)

    def _visible_as_last_written(self, session: Session, res_type: str, res_id: str, deleted_at: int) -> bool:
        from lifeline.search.extract import extract_index

        for version in range(deleted_at - 1, 0, -1):
            stored = session.vread(res_type, res_id, version)
            if stored is not None and stored.content is not None and not stored.deleted:
                break
        else:
            return not self.is_patient and not self.launch_types  # never had content: only that it was deleted
        if self.is_system:
            return True
        params = set(tie_params(self.registry, res_type))
        index = extract_index(orjson.loads(stored.content), self.registry)
        patients = sorted(
            {e.target_id for e in index.references if e.param in params and e.target_type == "Patient" and e.target_id}
        )
        allowed = self.allowed_patients(session, patients)
        if res_type in self.launch_types:
            allowed &= {self.launch or ""}
            if not patients:
                return False
        if any(patient not in allowed for patient in patients):
            return False
        if self.holding is not None:  # a result deleted while held back stays unseen
            content = orjson.loads(stored.content)
            if self.holding.held_until(content, self.registry) is not None:
                return False
        return bool(patients) or not self.is_patient


def _last_content(session: Session, res_type: str, res_id: str, deleted_at: int) -> StoredVersion | None:
    """The last version with content before the delete at version `deleted_at`."""
    for version in range(deleted_at - 1, 0, -1):
        stored = session.vread(res_type, res_id, version)
        if stored is not None and stored.content is not None and not stored.deleted:
            return stored
    return None


@cache
def _compartment_types(registry: SearchRegistry, holding: bool) -> tuple[str, ...]:
    """The tied types other than Patient a securityContext may name; under a `holding` (patients)
    no result type, which may be held back from them (access/held_results.py)."""
    types = (t for t in registry.resource_types if t != "Patient" and tie(registry, t) == COMPARTMENT)
    return tuple(sorted(t for t in types if not (holding and t in RESULT_TYPES)))


@cache
def _pairs(registry: SearchRegistry) -> tuple[str, tuple[object, ...]]:
    """`a.pid IN (…)`: every tie parameter of every type, by number, with its args."""
    numbers = param_numbers.of(
        (resource_type, param)
        for resource_type in sorted(registry.resource_types)
        for param in tie_params(registry, resource_type)
    )
    sql, args = param_numbers.condition("a", numbers)
    return sql, tuple(args)
