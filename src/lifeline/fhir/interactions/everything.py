"""Patient/{id}/$everything: a patient's whole record, page by page (https://hl7.org/fhir/R4/patient-operation-everything.html).

The pages hold the Patient and every resource in its compartment (ordered by type and id,
keyset-paged like search), each page followed by the resources its entries reference that are in
no patient's compartment (Practitioner, Organization, Location, Medication, …) as `include`
entries. `_since` keeps resources updated at or after an instant, `_type` the listed types,
`_count` sets the page size; `start`/`end` (care dates) are not offered and are reported as
ignored, like an unknown search parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.access.enforce import check_visible
from lifeline.errors import BadRequest, Gone, MethodNotAllowed, NotFound
from lifeline.fhir import paging
from lifeline.fhir.interactions.read import unknown_unless_seen
from lifeline.fhir.interactions.search import plan_search, searchset
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.matching import Match

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

_OWN = frozenset({"_since", "_type", "_count", "_page", "_format", "_pretty", "_summary", "_elements", "_total"})


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    from lifeline.search.query.compartment import everything_condition, outside_types

    if request.resource_type != "Patient" or request.id is None:
        raise MethodNotAllowed("$everything is offered on one patient: Patient/{id}/$everything")
    values = {name: value for name, value in request.params}
    types: set[str] | None = None
    if "_type" in values:
        types = {t.strip() for t in values["_type"].split(",") if t.strip()}
        unknown_types = sorted(t for t in types if t not in service.registry.resource_types)
        if unknown_types:
            raise BadRequest(f"_type names unknown resource types: {', '.join(unknown_types)}")
    with service.repo.reading() as session:
        patient = session.read("Patient", request.id)
        if patient is None:
            raise NotFound(f"Patient/{request.id} is not known")
        if patient.deleted:
            unknown_unless_seen(service, session, request)  # 404 to whoever could not have seen it
            raise Gone(f"Patient/{request.id} was deleted")
        check_visible(service, session, request, patient)
    where, args = everything_condition(
        request.id, types, service.registry, compound_in=service.repo.dialect.indexes_compound_in
    )
    if "_since" in values:
        where += " AND r.last_updated >= ?"
        args.append(paging.instant_param("_since", values["_since"]))
    unknown = [name for name, _ in request.params if name not in _OWN]
    match = Match(where, tuple(args))
    plan = plan_search(service, request, None, match, f"Patient/{request.id}/$everything", unknown)
    plan.referenced_types = outside_types(service.registry)
    return FhirResponse(200, resource=searchset(service, request, plan))
