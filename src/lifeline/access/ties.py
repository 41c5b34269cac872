"""How every R4 resource type is tied to a patient, decided once for all 147 types (issue 19.7).

The access rule judges a resource by the patients it is tied to. There are four kinds of tie:

- **patient**: the Patient itself;
- **compartment**: the references the Patient compartment definition names
  (https://hl7.org/fhir/R4/compartmentdefinition-patient.html), plus the few types R4 leaves out
  of the compartment although they name the patient they describe (`EXTRA`: a Device implanted in
  or assigned to a patient, a Contract or a GuidanceResponse about one). A contained resource is
  part of its container and is judged with it;
- **directory**: types that describe who gives care, where, and with what, or that define
  knowledge (Practitioner, Location, ValueSet …): no patient's data. Staff read them; patients
  read the directory of their care (`PATIENT_SHARED`);
- **untied**: types that can carry anyone's data and name no patient the index can see — a
  Binary (its `securityContext` is not searchable), a Bundle (a document or collection of other
  resources), a Linkage, a MessageHeader, a Subscription (its criteria name patients) … They are
  refused to staff and patients: only system principals (registered integrations) read or
  write them. A type Lifeline does not know is untied: new types are refused until decided.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from lifeline.search.registry import SearchRegistry

PATIENT = "patient"
COMPARTMENT = "compartment"
DIRECTORY = "directory"
UNTIED = "untied"

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
    """The kind of tie of `res_type`: patient, compartment, directory or untied."""
    return _ties(registry).get(res_type, UNTIED)


def tie_params(registry: SearchRegistry, res_type: str) -> tuple[str, ...]:
    """The search parameters whose Patient references tie a resource of `res_type` to patients."""
    return _params(registry).get(res_type, ())


def untied_types(registry: SearchRegistry) -> tuple[str, ...]:
    """Every known type refused to staff and patients, sorted (for SQL lists)."""
    return tuple(sorted(t for t, kind in _ties(registry).items() if kind == UNTIED))


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
