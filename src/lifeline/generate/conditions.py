"""What patients have and what is done about it: diagnoses (ICD-10) with the department that
treats them, the lab tests, medicines, imaging and operation that go with each, and how the
disease moves each lab value (in reference-range widths: at onset, and per year after).

Codes are real ICD-10, SNOMED CT and ATC codes chosen by hand; this is plausible clinical
texture for testing, not clinical guidance."""

from __future__ import annotations

from typing import NamedTuple


class Procedure(NamedTuple):
    code: str  # SNOMED CT
    display: str
    danish: str
    minutes: int
    body_site: tuple[str, str] | None  # SNOMED CT body structure
    theatre: bool  # done in an operating theatre


# fmt: off
PROCEDURES = {
    "appendectomy": Procedure("80146002", "Appendectomy", "Appendektomi", 60, ("66754008", "Appendix structure"), True),
    "cholecystectomy": Procedure("45595009", "Laparoscopic cholecystectomy", "Laparoskopisk kolecystektomi", 75,
                                 ("28231008", "Gallbladder structure"), True),
    "hernia": Procedure("44558001", "Repair of inguinal hernia", "Operation for lyskebrok", 60, None, True),
    "hip": Procedure("52734007", "Total replacement of hip", "Total hoftealloplastik", 90,
                     ("24136001", "Hip joint structure"), True),
    "knee": Procedure("609588000", "Total knee replacement", "Total knæalloplastik", 90,
                      ("72696002", "Knee region structure"), True),
    "lumpectomy": Procedure("392021009", "Lumpectomy of breast", "Brystbevarende operation", 60,
                            ("76752008", "Breast structure"), True),
    "hysterectomy": Procedure("236886002", "Hysterectomy", "Fjernelse af livmoderen", 90,
                              ("35039007", "Uterine structure"), True),
    "caesarean": Procedure("11466000", "Cesarean section", "Kejsersnit", 45, None, True),
    "colonoscopy": Procedure("73761001", "Colonoscopy", "Koloskopi", 30, ("71854001", "Colon structure"), False),
    "pci": Procedure("415070008", "Percutaneous coronary intervention", "Ballonudvidelse af kranspulsåre (PCI)", 60,
                     None, False),
}
# fmt: on


class Diagnosis(NamedTuple):
    code: str  # ICD-10
    display: str
    danish: str
    kind: str  # the department kind that treats it (hospitals.KINDS)
    chronic: bool
    ages: tuple[int, int]
    sex: str | None  # "female" / "male" when only one sex has it
    weight: float  # how common, relative to the others
    labs: tuple[str, ...]  # labs.ANALYTES measured at its visits
    effects: dict[str, tuple[float, float]]  # analyte -> (shift at onset, shift per year), in range widths
    medicines: tuple[str, ...]  # medication.MEDICINES
    imaging: tuple[str, ...]  # imaging.STUDIES
    procedure: str | None  # PROCEDURES
    admitted: bool  # acute: admitted to a ward (True) or seen in the emergency department only


def _d(
    code: str, display: str, danish: str, kind: str, ages: str, weight: float, *, chronic: bool = False,
    sex: str | None = None, labs: str = "", effects: str = "", medicines: str = "", imaging: str = "",
    procedure: str | None = None, admitted: bool = False,
) -> Diagnosis:  # fmt: skip
    """A diagnosis from compact text: ages "35-104", lists space-separated, effects "crp:11:0 leuk:1.4:0"."""
    low, high = ages.split("-")
    shifts = {a: (float(s), float(t)) for a, s, t in (e.split(":") for e in effects.split())}
    return Diagnosis(
        code, display, danish, kind, chronic, (int(low), int(high)), sex, weight, tuple(labs.split()), shifts,
        tuple(medicines.split()), tuple(imaging.split()), procedure, admitted,
    )  # fmt: skip


_PANEL = "hb leuk trombo na k creat crp"

# fmt: off
DIAGNOSES = {
    # chronic: followed in a clinic for years
    "dm2": _d("E11.9", "Type 2 diabetes mellitus without complications", "Type 2-diabetes", "endo", "35-104", 8,
              chronic=True, labs="hba1c glucose creat chol", effects="hba1c:1.6:-0.15 glucose:1:-0.1 chol:0.3:-0.05",
              medicines="metformin atorvastatin"),
    "dm1": _d("E10.9", "Type 1 diabetes mellitus without complications", "Type 1-diabetes", "endo", "5-90", 1,
              chronic=True, labs="hba1c glucose creat", effects="hba1c:1.5:-0.05 glucose:1.2:0",
              medicines="glargine aspart"),
    "hypertension": _d("I10", "Essential (primary) hypertension", "Forhøjet blodtryk", "kard", "35-104", 14,
                       chronic=True, labs="na k creat", effects="creat:0.2:0.02", medicines="ramipril amlodipine"),
    "af": _d("I48.9", "Atrial fibrillation and atrial flutter, unspecified", "Atrieflimren", "kard", "50-104", 5,
             chronic=True, labs="hb creat k", medicines="apixaban metoprolol", imaging="echo"),
    "hf": _d("I50.9", "Heart failure, unspecified", "Hjertesvigt", "kard", "55-104", 4, chronic=True,
             labs="na k creat hb", effects="na:-0.6:-0.05 creat:0.6:0.1 k:0.2:0",
             medicines="furosemide ramipril metoprolol spironolactone", imaging="xr-chest echo"),
    "ihd": _d("I25.1", "Atherosclerotic heart disease", "Iskæmisk hjertesygdom", "kard", "45-104", 4, chronic=True,
              labs="chol hb creat", effects="chol:0.6:-0.2", medicines="asa atorvastatin metoprolol", imaging="echo",
              procedure="pci"),
    "copd": _d("J44.9", "Chronic obstructive pulmonary disease, unspecified", "KOL", "lunge", "45-104", 6,
               chronic=True, labs="crp leuk hb", effects="crp:0.4:0.05 hb:0.3:0", medicines="tiotropium salbutamol",
               imaging="xr-chest ct-chest"),
    "asthma": _d("J45.9", "Asthma, unspecified", "Astma", "lunge", "18-90", 5, chronic=True, labs="leuk",
                 medicines="salbutamol budesonide"),
    "asthma-child": _d("J45.9", "Asthma, unspecified", "Astma", "paed", "3-17", 6, chronic=True, labs="leuk",
                       medicines="salbutamol budesonide"),
    "ckd": _d("N18.9", "Chronic kidney disease, unspecified", "Kronisk nyresygdom", "nefro", "45-104", 4,
              chronic=True, labs="creat k na hb", effects="creat:2.2:0.25 k:0.4:0.05 hb:-0.7:-0.05",
              medicines="furosemide calcium", imaging="us-abd"),
    "hypothyroid": _d("E03.9", "Hypothyroidism, unspecified", "Nedsat stofskifte", "endo", "20-104", 5,
                      chronic=True, sex="female", labs="tsh", effects="tsh:2:-0.6", medicines="levothyroxine"),
    "knee-oa": _d("M17.9", "Gonarthrosis, unspecified", "Slidgigt i knæet", "orto", "50-104", 5, chronic=True,
                  labs="hb crp", medicines="paracetamol", imaging="xr-knee", procedure="knee"),
    "hip-oa": _d("M16.9", "Coxarthrosis, unspecified", "Slidgigt i hoften", "orto", "50-104", 4, chronic=True,
                 labs="hb crp", medicines="paracetamol", imaging="xr-hip", procedure="hip"),
    "epilepsy": _d("G40.9", "Epilepsy, unspecified", "Epilepsi", "neuro", "2-90", 2, chronic=True, labs="na",
                   medicines="levetiracetam", imaging="mr-brain"),
    "parkinson": _d("G20", "Parkinson disease", "Parkinsons sygdom", "neuro", "55-104", 2, chronic=True,
                    medicines="levodopa", imaging="mr-brain"),
    "depression": _d("F32.9", "Depressive episode, unspecified", "Depression", "psyk", "15-90", 5, chronic=True,
                     labs="tsh", medicines="sertraline"),
    "breast-cancer": _d("C50.9", "Malignant neoplasm of breast, unspecified", "Brystkræft", "onko", "35-95", 3,
                        chronic=True, sex="female", labs="hb leuk alat", effects="hb:-0.5:0.1 leuk:-0.4:0.1",
                        medicines="tamoxifen", imaging="mammo ct-chest", procedure="lumpectomy"),
    "colon-cancer": _d("C18.9", "Malignant neoplasm of colon, unspecified", "Tyktarmskræft", "gastro", "45-100", 2,
                       chronic=True, labs="hb crp alat ferritin", effects="hb:-0.9:0.2 ferritin:-0.6:0.2",
                       imaging="ct-chest", procedure="colonoscopy"),
    "lung-cancer": _d("C34.9", "Malignant neoplasm of bronchus or lung, unspecified", "Lungekræft", "onko", "50-100",
                      2, chronic=True, labs="hb leuk crp na", effects="crp:1:0.3 hb:-0.4:-0.1", imaging="ct-chest"),
    "crohn": _d("K50.9", "Crohn disease, unspecified", "Crohns sygdom", "med", "15-80", 1, chronic=True,
                labs="crp hb alb ferritin", effects="crp:1.5:-0.2 hb:-0.6:0.05 alb:-0.6:0.05", medicines="mesalazine",
                procedure="colonoscopy"),
    # acute: one emergency visit, often an admission
    "pneumonia": _d("J18.9", "Pneumonia, unspecified organism", "Lungebetændelse", "med", "0-104", 6, labs=_PANEL,
                    effects="crp:11:0 leuk:1.4:0", medicines="cefuroxime", imaging="xr-chest", admitted=True),
    "uti": _d("N39.0", "Urinary tract infection, site not specified", "Urinvejsinfektion", "akut", "15-104", 5,
              sex="female", labs="crp leuk creat", effects="crp:5:0 leuk:0.8:0", medicines="pivmecillinam"),
    "appendicitis": _d("K35.8", "Acute appendicitis, other and unspecified", "Blindtarmsbetændelse", "gastro", "6-80",
                       3, labs=_PANEL, effects="crp:6:0 leuk:1.6:0", medicines="cefuroxime paracetamol",
                       imaging="us-abd", procedure="appendectomy", admitted=True),
    "gallstones": _d("K80.2", "Calculus of gallbladder without cholecystitis", "Galdesten", "gastro", "25-90", 3,
                     labs="alat bili crp", effects="alat:2.5:0 bili:1.2:0", medicines="paracetamol", imaging="us-abd",
                     procedure="cholecystectomy", admitted=True),
    "hernia": _d("K40.9", "Unilateral or unspecified inguinal hernia", "Lyskebrok", "gastro", "20-90", 3, sex="male",
                 labs="hb", medicines="paracetamol", procedure="hernia", admitted=True),
    "hip-fracture": _d("S72.0", "Fracture of neck of femur", "Hoftebrud", "orto", "65-104", 3, labs=_PANEL,
                       effects="hb:-1:0 crp:3:0", medicines="paracetamol morphine", imaging="xr-hip", procedure="hip",
                       admitted=True),
    "wrist-fracture": _d("S52.5", "Fracture of lower end of radius", "Håndledsbrud", "akut", "5-104", 4,
                         medicines="paracetamol", imaging="xr-wrist"),
    "stroke": _d("I63.9", "Cerebral infarction, unspecified", "Blodprop i hjernen", "neuro", "50-104", 3, labs=_PANEL,
                 effects="crp:0.6:0", medicines="asa atorvastatin", imaging="ct-head mr-brain", admitted=True),
    "nstemi": _d("I21.4", "Non-ST elevation (NSTEMI) myocardial infarction", "Blodprop i hjertet", "kard", "40-104", 3,
                 labs=_PANEL, effects="crp:0.8:0", medicines="asa atorvastatin metoprolol", imaging="xr-chest echo",
                 procedure="pci", admitted=True),
    "chest-pain": _d("R07.4", "Chest pain, unspecified", "Brystsmerter", "akut", "18-104", 5, labs=_PANEL,
                     imaging="xr-chest"),
    "concussion": _d("S06.0", "Concussion", "Hjernerystelse", "akut", "3-104", 4, imaging="ct-head"),
    "gastroenteritis": _d("A08.4", "Viral intestinal infection, unspecified", "Maveinfektion", "paed", "0-14", 6,
                          labs="na k crp", effects="na:-0.4:0 crp:1:0"),
    "bronchiolitis": _d("J21.9", "Acute bronchiolitis, unspecified", "Bronkiolitis", "paed", "0-2", 6, labs="crp leuk",
                        effects="crp:1.5:0", imaging="xr-chest", admitted=True),
    "psychosis": _d("F23.9", "Acute and transient psychotic disorder, unspecified", "Akut psykose", "psyk", "18-70", 1,
                    labs="na k tsh", medicines="olanzapine", imaging="mr-brain", admitted=True),
    "endometriosis": _d("N80.9", "Endometriosis, unspecified", "Endometriose", "gyn", "18-50", 2, sex="female",
                        labs="hb", medicines="ibuprofen", imaging="us-abd", admitted=True),
    "fibroids": _d("D25.9", "Leiomyoma of uterus, unspecified", "Fibromer i livmoderen", "gyn", "30-55", 2,
                   sex="female", labs="hb ferritin", effects="hb:-0.8:0 ferritin:-0.6:0", medicines="ibuprofen",
                   imaging="us-abd", procedure="hysterectomy", admitted=True),
    "delivery": _d("O80", "Single spontaneous delivery", "Normal fødsel", "gyn", "18-46", 0, sex="female", labs="hb",
                   effects="hb:-0.5:0", medicines="paracetamol", admitted=True),
}
# fmt: on
NEWBORN = ("Z38.0", "Singleton, born in hospital", "Enkeltfødt barn, født på hospital")

CHRONIC = tuple(k for k, d in DIAGNOSES.items() if d.chronic)
ACUTE = tuple(k for k, d in DIAGNOSES.items() if not d.chronic and d.weight > 0)


def by_kind(kind: str, *, surgical: bool = False) -> tuple[str, ...]:
    """The diagnoses a department kind treats (with an operation in a theatre, if `surgical`)."""
    return tuple(
        key
        for key, d in DIAGNOSES.items()
        if d.kind == kind and d.weight > 0 and (not surgical or (d.procedure and PROCEDURES[d.procedure].theatre))
    )


def fits(key: str, age: int, male: bool) -> bool:
    diagnosis = DIAGNOSES[key]
    low, high = diagnosis.ages
    return low <= age <= high and diagnosis.sex in (None, "male" if male else "female")
