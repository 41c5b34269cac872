"""How every R4 resource type is tied to a patient, decided once for all 147 types (issue 19.7).

The access rule judges a resource by the patients it is tied to. There are five kinds of tie:

- **patient**: the Patient itself;
- **compartment**: the references the Patient compartment definition names
  (https://hl7.org/fhir/R4/compartmentdefinition-patient.html), plus the few types R4 leaves out
  of the compartment although they name the patient they describe (`EXTRA`: a Device implanted in
  or assigned to a patient, a Contract or a GuidanceResponse about one). A contained resource is
  part of its container and is judged with it;
- **directory**: types that describe who gives care, where, and with what, or that define
  knowledge (Practitioner, Location, ValueSet …): no patient's data. Staff read them; patients
  read the directory of their care (`PATIENT_SHARED`);
- **context**: a Binary, judged as the resource its `securityContext` names (R4: "a proxy of the
  security sensitivity to use when deciding and enforcing access control rules for the Binary",
  https://hl7.org/fhir/R4/binary-definitions.html#Binary.securityContext). That reference is
  indexed (`security-context`, search/registry.py) and the rule follows it one step. A Binary
  without one, or naming another Binary or an untied resource, is for system principals;
- **untied**: types that can carry anyone's data and name no patient the index can see — a
  Bundle (a document or collection of other resources), a Linkage, a MessageHeader, a
  Subscription (its criteria name patients) … They are refused to staff and patients: only
  system principals (registered integrations) read or write them. A type Lifeline does not
  know is untied: new types are refused until decided.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from lifeline.search.registry import SearchRegistry

PATIENT = "patient"
COMPARTMENT = "compartment"
DIRECTORY = "directory"
UNTIED = "untied"
CONTEXT = "context"

# Types judged as the resource their securityContext names, by the index parameter that holds it.
CONTEXT_PARAMS: dict[str, str] = {"Binary": "security-context"}

# Types outside the R4 Patient compartment whose own search parameters name the patient.
EXTRA: dict[str, tuple[str, ...]] = {
    "Device": ("patient",),
    "Contract": ("patient", "subject"),
    "GuidanceResponse": ("patient", "subject"),
}

# Types that describe the organisation of care, or define knowledge, and hold no patient's data.
DIRECTORY_TYPES = frozenset(
    {
        "ActivityDefinition",
        "CapabilityStatement",
        "CatalogEntry",
        "ChargeItemDefinition",
        "CodeSystem",
        "CompartmentDefinition",
        "ConceptMap",
        "DeviceDefinition",
        "DeviceMetric",
        "EffectEvidenceSynthesis",
        "Endpoint",
        "EventDefinition",
        "Evidence",
        "EvidenceVariable",
        "ExampleScenario",
        "GraphDefinition",
        "HealthcareService",
        "ImplementationGuide",
        "InsurancePlan",
        "Library",
        "Location",
        "Measure",
        "Medication",
        "MedicationKnowledge",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "MessageDefinition",
        "NamingSystem",
        "ObservationDefinition",
        "OperationDefinition",
        "Organization",
        "OrganizationAffiliation",
        "PlanDefinition",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "ResearchDefinition",
        "ResearchElementDefinition",
        "ResearchStudy",
        "RiskEvidenceSynthesis",
        "SearchParameter",
        "Slot",
        "SpecimenDefinition",
        "StructureDefinition",
        "StructureMap",
        "Substance",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
        "TerminologyCapabilities",
        "TestReport",
        "TestScript",
        "ValueSet",
    }
)

# The directory a patient may read: who and where their care is given.
PATIENT_SHARED = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Location", "HealthcareService", "Endpoint", "Medication"}
)
# Free and busy times, so a patient can move their own appointment (issue 25); a Slot names no patient.
PATIENT_SHARED |= frozenset({"Slot"})


def tie(registry: SearchRegistry, res_type: str) -> str:
    """The kind of tie of `res_type`: patient, compartment, directory, context or untied."""
    return _ties(registry).get(res_type, UNTIED)


def tie_params(registry: SearchRegistry, res_type: str) -> tuple[str, ...]:
    """The search parameters whose Patient references tie a resource of `res_type` to patients."""
    return _params(registry).get(res_type, ())


def record_params(registry: SearchRegistry, res_type: str) -> tuple[str, ...]:
    """The parameters whose Patient references name a written resource's patients in its audit
    record: its tie parameters, and a Binary's securityContext (when that names a Patient)."""
    context = CONTEXT_PARAMS.get(res_type)
    return (*tie_params(registry, res_type), context) if context else tie_params(registry, res_type)


def untied_types(registry: SearchRegistry) -> tuple[str, ...]:
    """Every known type refused to staff and patients, sorted (for SQL lists)."""
    return tuple(sorted(t for t, kind in _ties(registry).items() if kind == UNTIED))


def context_target(resource: dict[str, Any]) -> tuple[str, str] | None:
    """(type, id) of the local resource a Binary's securityContext names, else None (none, a
    contained or an absolute reference: nothing Lifeline can judge it by)."""
    from lifeline.search.extract.reference import parse_reference

    context = resource.get("securityContext")
    reference = context.get("reference") if isinstance(context, dict) else None
    parsed = parse_reference(reference) if isinstance(reference, str) else None
    if parsed is None or parsed[2] is not None or not parsed[0] or not parsed[1]:
        return None
    return parsed[0], parsed[1]


def context_types(registry: SearchRegistry) -> tuple[str, ...]:
    """Every known type judged by its securityContext, sorted (for SQL lists)."""
    return tuple(sorted(t for t, kind in _ties(registry).items() if kind == CONTEXT))


@cache
def directory_types(registry: SearchRegistry) -> frozenset[str]:
    """Every known directory type (an app launched for one patient reads them all)."""
    return frozenset(t for t, kind in _ties(registry).items() if kind == DIRECTORY)


def contains_patient_data(registry: SearchRegistry, resource: dict[str, Any]) -> list[str]:
    """The types of contained resources that would carry patient data inside a directory
    resource (which nobody judges by patient): such a resource is refused at write."""
    if tie(registry, str(resource.get("resourceType"))) != DIRECTORY:
        return []
    found = []
    for contained in resource.get("contained") or []:
        kind = contained.get("resourceType") if isinstance(contained, dict) else None
        if not isinstance(kind, str) or tie(registry, kind) != DIRECTORY:
            found.append(str(kind))
    return found


@cache
def _ties(registry: SearchRegistry) -> dict[str, str]:
    ties = {}
    for res_type in registry.resource_types:
        if res_type == "Patient":
            ties[res_type] = PATIENT
        elif registry.compartment_params(res_type) or res_type in EXTRA:
            ties[res_type] = COMPARTMENT
        elif res_type in DIRECTORY_TYPES:
            ties[res_type] = DIRECTORY
        elif res_type in CONTEXT_PARAMS and registry.get(res_type, CONTEXT_PARAMS[res_type]) is not None:
            ties[res_type] = CONTEXT
        else:
            ties[res_type] = UNTIED
    return ties


@cache
def _params(registry: SearchRegistry) -> dict[str, tuple[str, ...]]:
    params = {}
    for res_type in registry.resource_types:
        own = [*registry.compartment_params(res_type), *EXTRA.get(res_type, ())]
        known = registry.params_for(res_type)
        found = tuple(dict.fromkeys(p for p in own if p in known))
        if found:
            params[res_type] = found
    return params
