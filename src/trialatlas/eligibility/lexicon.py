"""Curated vocabulary the eligibility rules are driven by: data only, no logic.

Every rule in ``extract``, ``profile`` and ``match`` reads its words from here, so widening
coverage means adding rows, not code. Patterns are regular-expression fragments matched
case-insensitively against lower-cased text; they are ordered longest first where one is a
prefix of another.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- conditions ----------------------------------------------------------------------------

# Abbreviations recognised when written in capitals (so "MS" is not "ms"), mapped to the
# phrase they stand for. Used for criteria, patient notes and profile diagnoses alike.
ABBREVIATIONS: dict[str, str] = {
    "ad": "alzheimer disease",
    "af": "atrial fibrillation",
    "afib": "atrial fibrillation",
    "aids": "acquired immunodeficiency syndrome",
    "aki": "acute kidney injury",
    "all": "acute lymphoblastic leukemia",
    "als": "amyotrophic lateral sclerosis",
    "aml": "acute myeloid leukemia",
    "asd": "atrial septal defect",
    "avm": "arteriovenous malformation",
    "bph": "benign prostatic hyperplasia",
    "cad": "coronary artery disease",
    "chf": "congestive heart failure",
    "ckd": "chronic kidney disease",
    "cll": "chronic lymphocytic leukemia",
    "cml": "chronic myeloid leukemia",
    "copd": "chronic obstructive pulmonary disease",
    "cva": "stroke",
    "dcis": "ductal carcinoma in situ",
    "dm": "diabetes mellitus",
    "dm1": "type 1 diabetes mellitus",
    "dm2": "type 2 diabetes mellitus",
    "dmii": "type 2 diabetes mellitus",
    "dvt": "deep vein thrombosis",
    "esrd": "end stage renal disease",
    "gerd": "gastroesophageal reflux disease",
    "gbm": "glioblastoma",
    "hbv": "hepatitis b",
    "hcc": "hepatocellular carcinoma",
    "hcv": "hepatitis c",
    "hf": "heart failure",
    "hfref": "heart failure with reduced ejection fraction",
    "hl": "hyperlipidemia",
    "hld": "hyperlipidemia",
    "htn": "hypertension",
    "ibd": "inflammatory bowel disease",
    "ibs": "irritable bowel syndrome",
    "ich": "intracerebral hemorrhage",
    "ipf": "idiopathic pulmonary fibrosis",
    "mci": "mild cognitive impairment",
    "mdd": "major depressive disorder",
    "mds": "myelodysplastic syndrome",
    "mi": "myocardial infarction",
    "mm": "multiple myeloma",
    "mmn": "multifocal motor neuropathy",
    "mnd": "motor neuron disease",
    "ms": "multiple sclerosis",
    "nash": "nonalcoholic steatohepatitis",
    "nhl": "non hodgkin lymphoma",
    "nsclc": "non small cell lung cancer",
    "oa": "osteoarthritis",
    "osa": "obstructive sleep apnea",
    "pad": "peripheral arterial disease",
    "pcos": "polycystic ovary syndrome",
    "pd": "parkinson disease",
    "pe": "pulmonary embolism",
    "ptsd": "post traumatic stress disorder",
    "pvd": "peripheral vascular disease",
    "ra": "rheumatoid arthritis",
    "rcc": "renal cell carcinoma",
    "sclc": "small cell lung cancer",
    "sle": "systemic lupus erythematosus",
    "t1dm": "type 1 diabetes mellitus",
    "t2dm": "type 2 diabetes mellitus",
    "tb": "tuberculosis",
    "tia": "transient ischemic attack",
    "uc": "ulcerative colitis",
    "ugib": "upper gastrointestinal bleeding",
    "uti": "urinary tract infection",
}

# Lower-case phrases that mean the same condition, written out (MeSH entry-term style).
SYNONYMS: dict[str, str] = {
    "lou gehrig disease": "amyotrophic lateral sclerosis",
    # "HER-2" would lose its "her" (a stop word) and leave a bare "2"
    "her 2": "her2",
    "c erbb2": "her2",
    "erbb2": "her2",
    "motor neurone disease": "motor neuron disease",
    "metastatic disease": "metastases",  # a condition of its own in criteria (stage IV)
    "heart attack": "myocardial infarction",
    "high blood pressure": "hypertension",
    "type ii diabetes": "type 2 diabetes mellitus",
    "type 2 diabetes": "type 2 diabetes mellitus",
    "type i diabetes": "type 1 diabetes mellitus",
    "type 1 diabetes": "type 1 diabetes mellitus",
    "diabetes type 2": "type 2 diabetes mellitus",
    "diabetes type 1": "type 1 diabetes mellitus",
    "non insulin dependent diabetes": "type 2 diabetes mellitus",
    "insulin dependent diabetes": "type 1 diabetes mellitus",
    "cerebrovascular accident": "stroke",
    "cardiac failure": "heart failure",
    "renal failure": "kidney failure",
    "renal insufficiency": "kidney insufficiency",
    # impaired kidney function by any of its names; chronic kidney disease is its lasting form
    "renal impairment": "kidney insufficiency",
    "kidney impairment": "kidney insufficiency",
    "renal dysfunction": "kidney insufficiency",
    "kidney dysfunction": "kidney insufficiency",
    "impaired renal function": "kidney insufficiency",
    "impaired kidney function": "kidney insufficiency",
    "chronic kidney disease": "chronic kidney insufficiency",
    "chronic renal disease": "chronic kidney insufficiency",
    "hepatic failure": "liver failure",
    "shortness of breath": "dyspnea",
    "high cholesterol": "hypercholesterolemia",
    "hyperlipidaemia": "hyperlipidemia",
    "dyslipidemia": "hyperlipidemia",
    "c diff": "clostridium difficile infection",
    "cdiff": "clostridium difficile infection",
    "human immunodeficiency virus": "hiv infection",
    "hiv": "hiv infection",
    "hepatitis b virus": "hepatitis b",
    "hepatitis c virus": "hepatitis c",
    "hep c": "hepatitis c",
    "hep b": "hepatitis b",
    "major depression": "major depressive disorder",
    "depression": "depressive disorder",
    "lewis sumner syndrome": "multifocal acquired demyelinating sensory and motor neuropathy",
}

# Tokens read as one canonical token before comparing condition phrases: spelling variants,
# plurals MeSH uses, and the several words for "cancer" (a patient's "lung cancer" is MeSH's
# "Lung Neoplasms").
TOKEN_CANON: dict[str, str] = {
    "cancer": "neoplasm",
    "cancers": "neoplasm",
    "tumor": "neoplasm",
    "tumors": "neoplasm",
    "tumour": "neoplasm",
    "tumours": "neoplasm",
    "neoplasms": "neoplasm",
    "malignancy": "neoplasm",
    "malignancies": "neoplasm",
    "carcinoma": "neoplasm",
    "carcinomas": "neoplasm",
    "oedema": "edema",
    "infiltrating": "invasive",  # "infiltrating ductal carcinoma" is invasive ductal
    "metastatic": "metastasis",  # "metastatic disease" is "metastases"
    "haemorrhage": "hemorrhage",
    "anaemia": "anemia",
    "leukaemia": "leukemia",
    "oesophageal": "esophageal",
    "neurone": "neuron",
    "neurones": "neuron",
    "neurons": "neuron",
    "vaccination": "vaccine",
    "vaccinations": "vaccine",
    "vaccines": "vaccine",
    "immunization": "vaccine",
    "tumoral": "neoplasm",
    "renal": "kidney",
    "hepatic": "liver",
    "cardiac": "heart",
    "pulmonary": "lung",
    "diabetic": "diabetes",
    "steroids": "steroid",
    "corticosteroids": "glucocorticoid",
    "corticosteroid": "glucocorticoid",
    "glucocorticoids": "glucocorticoid",
    "hormones": "hormone",
}

# A cancer that has spread is stage IV, with distant metastases (AJCC: M1), whichever of the
# three a record or a patient says: each diagnosis key naming one gets all.
METASTATIC_KEY: frozenset[str] = frozenset({"metastasis", "distant", "stage", "iv"})

# Malignancies named by their kind rather than as a cancer (carcinomas fold to "neoplasm" in
# TOKEN_CANON): a patient with one of these has a malignancy.
MALIGNANT_KINDS: frozenset[str] = frozenset(
    [
        "adenocarcinoma",
        "astrocytoma",
        "cholangiocarcinoma",
        "ependymoma",
        "glioblastoma",
        "glioma",
        "leukemia",
        "lymphoma",
        "medulloblastoma",
        "melanoma",
        "mesothelioma",
        "myeloma",
        "neuroblastoma",
        "oligodendroglioma",
        "osteosarcoma",
        "retinoblastoma",
        "sarcoma",
        "seminoma",
    ]
)

# Words that name no particular condition on their own: dropped when comparing phrases, and
# a phrase made only of them is no condition.
GENERIC_TOKENS: frozenset[str] = frozenset(
    [
        "disease",
        "diseases",
        "disorder",
        "disorders",
        "condition",
        "conditions",
        "illness",
        "illnesses",
        "syndrome",
        "syndromes",
        "problem",
        "problems",
        "abnormality",
        "abnormalities",
        "history",
        "type",
        "form",
        "forms",
        "other",
        "any",
        "known",
        "documented",
        "confirmed",
        "diagnosis",
        "diagnosed",
        "evidence",
        "presence",
        "patient",
        "patients",
        "subject",
        "subjects",
        "participant",
        "participants",
        "significant",
        "clinically",
        "medical",
        "current",
        "currently",
        "prior",
        "previous",
        "active",
        "chronic",
        "state",
        "status",
    ]
)

# Stop words skipped when building comparison keys.
STOP_TOKENS: frozenset[str] = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "with",
        "and",
        "or",
        "in",
        "on",
        "to",
        "for",
        "by",
        "from",
        "at",
        "as",
        "is",
        "are",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "who",
        "which",
        "that",
        "this",
        "these",
        "those",
        "its",
        "their",
        "his",
        "her",
        "such",
        "including",
        "include",
        "includes",
        "etc",
        "e",
        "g",
        "i",
        "e",
        "eg",
        "ie",
        "than",
    ]
)

# Words that narrow a condition in a criterion ("severe infection"): a patient fact without
# the same word only possibly matches, so the matcher answers unknown rather than guessing.
QUALIFIERS: tuple[str, ...] = (
    "clinically significant",
    "uncontrolled",
    "unstable",
    "severe",
    "serious",
    "significant",
    "active",
    "decompensated",
    "symptomatic",
    "progressive",
    "refractory",
    "poorly controlled",
    "excessive",
    "non-standard",
    "high-dose",
    "high dose",
    "advanced",
    "metastatic",
    "recurrent",
    "relapsed",
    "ongoing",
)

# Head words and endings that make a phrase look like a condition.
CONDITION_HEADS: tuple[str, ...] = (
    "disease",
    "disorder",
    "syndrome",
    "neoplasm",
    "infection",
    "failure",
    "insufficiency",
    "dysfunction",
    "injury",
    "lesion",
    "deficiency",
    "impairment",
    "hypertension",
    "hypotension",
    "diabetes",
    "sclerosis",
    "neuropathy",
    "arthritis",
    "dementia",
    "stroke",
    "infarction",
    "fibrillation",
    "thrombosis",
    "embolism",
    "hemorrhage",
    "bleeding",
    "ulcer",
    "asthma",
    "epilepsy",
    "seizure",
    "depression",
    "anemia",
    "leukemia",
    "lymphoma",
    "myeloma",
    "melanoma",
    "sarcoma",
    "metastasis",
    "metastases",
    "fracture",
    "obesity",
    "sepsis",
    "pain",
    "abuse",
    "dependence",
    "allergy",
    "hypersensitivity",
    "transplant",
    "transplantation",
    "pregnancy",
)
CONDITION_SUFFIXES: tuple[str, ...] = (
    "itis",
    "oma",
    "omas",
    "osis",
    "pathy",
    "emia",
    "aemia",
    "algia",
    "plasia",
    "trophy",
    "penia",
    "cytosis",
    "ectasis",
    "iasis",
)

# --- treatments ----------------------------------------------------------------------------

# Drug classes and their members (generic names); a patient's drug matches a criterion that
# names its class. Brand names a clinician would write are mapped in DRUG_NAMES.
DRUG_CLASSES: dict[str, tuple[str, ...]] = {
    "glucocorticoid": (
        "prednisone",
        "prednisolone",
        "methylprednisolone",
        "dexamethasone",
        "hydrocortisone",
        "budesonide",
        "betamethasone",
        "triamcinolone",
        "cortisone",
    ),
    "immunosuppressant": (
        "cyclophosphamide",
        "tacrolimus",
        "cyclosporine",
        "azathioprine",
        "mycophenolate",
        "methotrexate",
        "sirolimus",
        "everolimus",
    ),
    "immunoglobulin": ("intravenous immunoglobulin", "gamma globulin", "ivig"),
    "anticoagulant": (
        "warfarin",
        "heparin",
        "enoxaparin",
        "apixaban",
        "rivaroxaban",
        "dabigatran",
        "edoxaban",
    ),
    "antiplatelet": ("aspirin", "clopidogrel", "ticagrelor", "prasugrel"),
    "chemotherapy": (
        "melphalan",
        "chlorambucil",
        "busulfan",
        "ifosfamide",
        "carmustine",
        "lomustine",
        "procarbazine",
        "dacarbazine",
        "vinblastine",
        "vinorelbine",
        "daunorubicin",
        "idarubicin",
        "epirubicin",
        "mitoxantrone",
        "bleomycin",
        "mitomycin",
        "topotecan",
        "methotrexate",
        "azacitidine",
        "decitabine",
        "cladribine",
        "cisplatin",
        "carboplatin",
        "oxaliplatin",
        "paclitaxel",
        "docetaxel",
        "doxorubicin",
        "cyclophosphamide",
        "temozolomide",
        "etoposide",
        "gemcitabine",
        "fluorouracil",
        "irinotecan",
        "vincristine",
        "fludarabine",
        "capecitabine",
        "pemetrexed",
        "cytarabine",
        "bendamustine",
    ),
    "monoclonal antibody": (
        "rituximab",
        "bevacizumab",
        "trastuzumab",
        "pembrolizumab",
        "nivolumab",
        "alemtuzumab",
        "cetuximab",
    ),
    "antidiabetic": (
        "metformin",
        "insulin",
        "glipizide",
        "glyburide",
        "glimepiride",
        "sitagliptin",
        "pioglitazone",
        "liraglutide",
        "semaglutide",
        "empagliflozin",
    ),
    "oral hypoglycemic": ("metformin", "glipizide", "glyburide", "glimepiride", "sitagliptin"),
    "statin": ("atorvastatin", "simvastatin", "rosuvastatin", "pravastatin", "lovastatin"),
    "lipid lowering": ("atorvastatin", "simvastatin", "rosuvastatin", "pravastatin", "ezetimibe"),
    "antibiotic": (
        "vancomycin",
        "metronidazole",
        "ciprofloxacin",
        "levofloxacin",
        "amoxicillin",
        "ceftriaxone",
        "azithromycin",
        "doxycycline",
        "trimethoprim sulfamethoxazole",
        "piperacillin",
    ),
    "diuretic": ("furosemide", "hydrochlorothiazide", "spironolactone", "bumetanide"),
    "beta blocker": ("metoprolol", "atenolol", "carvedilol", "propranolol", "bisoprolol"),
    "ace inhibitor": ("lisinopril", "enalapril", "ramipril", "captopril"),
    "antiretroviral": (
        "zidovudine",
        "lamivudine",
        "tenofovir",
        "efavirenz",
        "dolutegravir",
        "abacavir",
    ),
    "nsaid": ("ibuprofen", "naproxen", "celecoxib", "diclofenac", "indomethacin"),
    "opioid": ("morphine", "oxycodone", "hydromorphone", "fentanyl", "tramadol", "methadone"),
    "antidepressant": (
        "sertraline",
        "fluoxetine",
        "citalopram",
        "escitalopram",
        "paroxetine",
        "venlafaxine",
        "duloxetine",
        "bupropion",
        "mirtazapine",
    ),
    "dopaminergic": ("levodopa", "carbidopa", "pramipexole", "ropinirole"),
    "alpha blocker": ("tamsulosin", "alfuzosin", "terazosin", "doxazosin", "silodosin"),
    "5 alpha reductase inhibitor": ("finasteride", "dutasteride"),
    "pde5 inhibitor": ("sildenafil", "tadalafil", "vardenafil"),
    "somatostatin analogue": ("octreotide", "lanreotide", "pasireotide"),
    "immunomodulator": ("interferon", "thalidomide", "lenalidomide"),
    "vasopressor": ("norepinephrine", "epinephrine", "vasopressin", "dopamine", "phenylephrine"),
    "investigational": ("investigational drug", "investigational agent", "study drug"),
}

# Brand and shorthand names mapped to generic names.
DRUG_NAMES: dict[str, str] = {
    "lasix": "furosemide",
    "rilutek": "riluzole",  # the ALS drug ALS trials ask about (a stable dose, or none)
    "radicava": "edaravone",
    "flagyl": "metronidazole",
    "vanco": "vancomycin",
    "avastin": "bevacizumab",
    "levophed": "norepinephrine",
    "campath": "alemtuzumab",
    "bactrim": "trimethoprim sulfamethoxazole",
    "tylenol": "acetaminophen",
    "coumadin": "warfarin",
    "cpt 11": "irinotecan",
    "ivig": "intravenous immunoglobulin",
    "gamma globulin": "intravenous immunoglobulin",
    "immunoglobulin": "intravenous immunoglobulin",
    "immune globulin": "intravenous immunoglobulin",
    "sinemet": "levodopa",
    "l dopa": "levodopa",
    "bb": "beta blocker",
    "steroid": "glucocorticoid",
    "flu shot": "influenza vaccine",
    "hrt": "hormone replacement therapy",
    "ocp": "oral contraceptive",
    "iud": "intrauterine device",
    "ifn": "interferon",
    "rbv": "ribavirin",
    "flomax": "tamsulosin",
    "proscar": "finasteride",
    "lipitor": "atorvastatin",
    "zocor": "simvastatin",
    "plavix": "clopidogrel",
    "glucophage": "metformin",
    "synthroid": "levothyroxine",
    "copaxone": "glatiramer acetate",
    "velcade": "bortezomib",
    "revlimid": "lenalidomide",
}

# Words that make a phrase a treatment, with the role the phrase then has.
TREATMENT_HEADS: tuple[str, ...] = (
    "therapy",
    "therapies",
    "treatment",
    "treatments",
    "chemotherapy",
    "radiotherapy",
    "radiation",
    "immunotherapy",
    "surgery",
    "transplant",
    "transplantation",
    "vaccine",
    "vaccination",
    "medication",
    "medications",
    "drug",
    "drugs",
    "agent",
    "agents",
    "inhibitor",
    "inhibitors",
    "dialysis",
)

# --- measurements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Analyte:
    """A measured quantity: lab, vital sign or score, and how to read its numbers.

    ``unit`` is the canonical unit key (see ``units``); ``bare`` gives, for a number written
    without a unit, the unit it must be in judging by its size: ((low, high, unit key), ...).
    ``molar_mass`` (g/mol) converts mass to molar concentrations.
    """

    name: str
    category: str
    aliases: tuple[str, ...]
    unit: str | None
    bare: tuple[tuple[float, float, str], ...] = ()
    molar_mass: float | None = None
    classes: bool = False  # values written as classes (NYHA I-IV)


_COUNT_BARE = ((1000.0, 2.0e6, "/mm3"), (0.05, 999.9, "10^9/L"))

ANALYTES: tuple[Analyte, ...] = (
    Analyte(
        "wbc",
        "lab",
        (
            r"white blood cells?(?: counts?)?",
            r"white (?:blood )?cell counts?",
            r"white counts?",
            r"wbcs?(?: counts?)?",
            r"total leu[ck]ocyte counts?",
            r"leu[ck]ocytes?(?: counts?)?",
        ),
        "10^9/L",
        _COUNT_BARE,
    ),
    Analyte(
        "anc",
        "lab",
        (
            r"absolute neutrophil counts?",
            r"absolute granulocyte counts?",
            r"neutrophils?(?: counts?)?",
            r"granulocytes?(?: counts?)?",
            r"anc",
            r"agc",
        ),
        "10^9/L",
        _COUNT_BARE,
    ),
    Analyte(
        "lymphocytes",
        "lab",
        (r"absolute lymphocyte counts?", r"lymphocytes?(?: counts?)?", r"alc"),
        "10^9/L",
        _COUNT_BARE,
    ),
    Analyte(
        "platelets",
        "lab",
        (r"platelets?(?: counts?)?", r"thrombocytes?(?: counts?)?", r"plts?"),
        "10^9/L",
        _COUNT_BARE,
    ),
    Analyte(
        "cd4",
        "lab",
        (r"cd4\+?(?: t)?(?:[- ]cells?|[- ]lymphocytes?)?(?: counts?)?",),
        "10^9/L",
        ((1.0, 3000.0, "/mm3"),),
    ),
    Analyte(
        "hba1c",
        "lab",
        (
            r"hba1c",
            r"hb ?a1c",
            r"a1c",
            r"glyc(?:osyl)?ated ha?emoglobin",
            r"ha?emoglobin a1c",
        ),
        "%",
        ((3.0, 20.0, "%"),),
    ),
    Analyte(
        "hemoglobin",
        "lab",
        (r"ha?emoglobin(?! a1c)", r"hgb", r"hb(?![a-z0-9])"),
        "g/dL",
        ((2.0, 25.0, "g/dL"), (25.0, 250.0, "g/L")),
        16114.5,
    ),
    Analyte("hematocrit", "lab", (r"ha?ematocrit", r"hct"), "%", ((10.0, 70.0, "%"),)),
    Analyte(
        "creatinine_clearance",
        "lab",
        (
            r"(?:estimated |calculated |measured )?creatinine clearances?",
            r"cr ?cl",
            r"clcr",
            r"ccr",
        ),
        "mL/min",
        ((1.0, 250.0, "mL/min"),),
    ),
    Analyte(
        "egfr",
        "lab",
        (r"(?:estimated )?glomerular filtration rate", r"e?gfr"),
        "mL/min",
        ((1.0, 250.0, "mL/min"),),
    ),
    Analyte(
        "creatinine",
        "lab",
        (r"(?:serum |plasma |blood )?creatinine(?! clearance)(?: levels?)?", r"s-?cr(?![a-z])"),
        "mg/dL",
        ((0.1, 15.0, "mg/dL"), (15.0, 2000.0, "umol/L")),
        113.12,
    ),
    Analyte(
        "bilirubin",
        "lab",
        (r"(?:total |serum |direct |conjugated )?bilirubin", r"t\.? ?bili", r"tbil"),
        "mg/dL",
        ((0.05, 40.0, "mg/dL"),),
        584.66,
    ),
    Analyte(
        "transaminases",
        "lab",
        (
            r"(?:serum )?(?:trans|amino)aminases?",
            r"liver enzymes?",
            r"liver function(?: tests?)?",
            r"ast ?(?:/|and|or|&) ?alt",
            r"alt ?(?:/|and|or|&) ?ast",
            r"sgot ?(?:/|and|or) ?sgpt",
            r"sgpt ?(?:/|and|or) ?sgot",
        ),
        "U/L",
    ),
    Analyte(
        "ast",
        "lab",
        (r"aspartate (?:amino)?transferase", r"aspartate transaminase", r"ast", r"sgot"),
        "U/L",
    ),
    Analyte(
        "alt",
        "lab",
        (r"alanine (?:amino)?transferase", r"alanine transaminase", r"alt", r"sgpt"),
        "U/L",
    ),
    Analyte("alp", "lab", (r"alkaline phosphatase", r"alp"), "U/L"),
    Analyte("albumin", "lab", (r"(?:serum )?albumin",), "g/dL", ((1.0, 7.0, "g/dL"),)),
    Analyte("inr", "lab", (r"inr", r"international normali[sz]ed ratio"), "1"),
    Analyte(
        "glucose",
        "lab",
        (
            r"fasting (?:blood |plasma |serum )?(?:glucose|sugar)",
            r"(?:blood |plasma |serum )?glucose",
            r"fbs",
            r"fpg",
        ),
        "mg/dL",
        ((1.5, 29.9, "mmol/L"), (30.0, 1500.0, "mg/dL")),  # "glucose of 15" is mmol/L
        180.16,
    ),
    Analyte(
        "ldl",
        "lab",
        (
            r"ldl(?:[- ]?c(?:holesterol)?)?",
            r"low[- ]density lipoprotein(?: cholesterol)?",
            r'bad"? cholesterol',
        ),
        "mg/dL",
        ((10.0, 1000.0, "mg/dL"),),
        386.65,
    ),
    Analyte(
        "hdl",
        "lab",
        (
            r"hdl(?:[- ]?c(?:holesterol)?)?",
            r"high[- ]density lipoprotein(?: cholesterol)?",
            r'good"? cholesterol',
        ),
        "mg/dL",
        ((5.0, 200.0, "mg/dL"),),
        386.65,
    ),
    Analyte(
        "cholesterol",
        "lab",
        (r"(?:total |serum )?cholesterol",),
        "mg/dL",
        ((50.0, 1000.0, "mg/dL"),),
        386.65,
    ),
    Analyte(
        "triglycerides",
        "lab",
        (r"triglycerides?", r"tg"),
        "mg/dL",
        ((20.0, 5000.0, "mg/dL"),),
        885.7,
    ),
    Analyte("calcium", "lab", (r"(?:serum )?calcium",), "mg/dL", ((4.0, 20.0, "mg/dL"),), 40.08),
    Analyte("potassium", "lab", (r"(?:serum )?potassium",), "mmol/L", ((1.0, 10.0, "mmol/L"),)),
    Analyte("sodium", "lab", (r"(?:serum )?sodium",), "mmol/L", ((100.0, 180.0, "mmol/L"),)),
    Analyte("psa", "lab", (r"psa", r"prostate[- ]specific antigen"), "ng/mL"),
    Analyte(
        "testosterone",
        "lab",
        (r"(?:serum |total )*testosterone",),
        "ng/dL",
        ((1.0, 2000.0, "ng/dL"),),
        288.42,
    ),
    Analyte("tsh", "lab", (r"tsh", r"thyroid[- ]stimulating hormone"), "mIU/L"),
    Analyte(  # 25-hydroxyvitamin D, the measure of vitamin D status
        "vitamin_d",
        "lab",
        (
            r"25[- ]?\(?oh\)?[- ]?(?:vitamin )?d[23]?",
            r"25[- ]hydroxy[- ]?(?:vitamin )?d[23]?",
            r"(?:serum )?vit(?:amin|\.)? ?d(?: levels?)?",
        ),
        "ng/mL",
        ((2.0, 150.0, "ng/mL"),),
        400.64,
    ),
    Analyte("igf1", "lab", (r"igf-?1", r"igf-?i", r"insulin-like growth factor(?:-?1)?"), "ng/mL"),
    Analyte("growth_hormone", "lab", (r"growth hormone", r"gh"), "ng/mL"),
    Analyte("ldh", "lab", (r"ldh", r"lactate dehydrogenase"), "U/L"),
    Analyte("crp", "lab", (r"crp", r"c-reactive protein"), "mg/L"),
    Analyte("viral_load", "lab", (r"hiv(?:-1)? rna", r"viral load"), "copies/mL"),
    Analyte(
        "systolic_bp",
        "vital",
        (r"systolic(?: blood)?(?: pressure)?", r"sbp"),
        "mmHg",
        ((50.0, 300.0, "mmHg"),),
    ),
    Analyte(
        "diastolic_bp",
        "vital",
        (r"diastolic(?: blood)?(?: pressure)?", r"dbp"),
        "mmHg",
        ((20.0, 200.0, "mmHg"),),
    ),
    Analyte(
        "heart_rate",
        "vital",
        (r"heart rate", r"pulse(?: rate)?", r"hr"),
        "bpm",
        ((20.0, 300.0, "bpm"),),
    ),
    Analyte(
        "oxygen_saturation",
        "vital",
        (r"oxygen saturation", r"o2 sat(?:uration)?s?", r"spo2", r"sao2"),
        "%",
        ((50.0, 100.0, "%"),),
    ),
    Analyte(
        "temperature",
        "vital",
        (r"(?:body |axillary |oral )?temperature", r"temp"),
        "degC",
        ((30.0, 45.0, "degC"),),
    ),
    Analyte("weight", "vital", (r"(?:body )?weight",), "kg", ((0.5, 400.0, "kg"),)),
    Analyte("height", "vital", (r"height",), "cm", ((30.0, 250.0, "cm"),)),
    Analyte(
        "lvef",
        "vital",
        (r"(?:left ventricular )?ejection fraction", r"lvef", r"ef"),
        "%",
        ((5.0, 90.0, "%"),),
    ),
    Analyte("qtc", "vital", (r"qtc[fb]?(?: interval)?", r"qt interval"), "ms"),
    # Written as a ratio ("< 0.70") or a percentage ("< 70%"): the size tells which.
    Analyte(
        "fev1_fvc",
        "vital",
        (r"fev1\s*(?:/|:|to)\s*fvc(?: ratio)?",),
        "%",
        ((0.05, 1.0, "fraction"), (1.0, 100.0, "%")),
    ),
    Analyte(
        "fvc",
        "vital",
        (
            r"(?:forced |slow )?vital capacity(?: \((?:fvc|svc)\))?",
            r"fvc%?(?! ratio)",
            r"svc%?",
        ),
        "%",
        ((10.0, 150.0, "%"),),
    ),
    Analyte("fev1", "vital", (r"fev1",), "%"),
    # In weeks: of a pregnancy, or at birth for a newborn ("born at 34 weeks of gestation").
    Analyte("gestational_age", "vital", (r"gestational age(?: at birth)?",), None),
    Analyte(
        "ecog",
        "score",
        (
            r"eastern cooperative oncology group(?: \(ecog\))?(?: performance status| ps)?"
            r"(?: score)?",
            r"ecog(?:/who)?(?: performance status| ps| performance score)?(?: score)?",
            r"who performance status",
            r"zubrod(?: performance status)?",
        ),
        None,
        ((0.0, 5.0, "1"),),
    ),
    Analyte(
        "karnofsky",
        "score",
        (r"karnofsky(?: performance)?(?: status| scale| score| index)?", r"kps", r"lansky"),
        "%",
        ((0.0, 100.0, "%"),),
    ),
    Analyte(
        "nyha",
        "score",
        (
            r"new york heart association(?: \(nyha\))?(?: functional)?(?: class(?:ification)?"
            r"| grade| stage)?",
            r"nyha(?: functional)?(?: class(?:ification)?| grade| stage)?",
        ),
        None,
        ((1.0, 4.0, "1"),),
        classes=True,
    ),
    Analyte(
        "alsfrs_r",
        "score",
        (
            r"als functional rating scale(?:[- ]revised)?(?: \(alsfrs-?r\))?(?: total)?"
            r"(?: score)?",
            r"alsfrs-?r?(?: total)?(?: score)?",
        ),
        None,
        ((0.0, 48.0, "1"),),
    ),
    Analyte(
        "bmi",
        "score",
        (r"body mass index(?: \(bmi\))?", r"bmi"),
        "kg/m2",
        ((10.0, 80.0, "kg/m2"),),
    ),
    Analyte(
        "mmse",
        "score",
        (r"mini[- ]mental state(?: examination)?(?: \(mmse\))?(?: score)?", r"mmse(?: score)?"),
        None,
        ((0.0, 30.0, "1"),),
    ),
    Analyte("edss", "score", (r"edss(?: score)?",), None, ((0.0, 10.0, "1"),)),
    Analyte(
        "hamd",
        "score",
        (  # the 17 of "HAM-D 17", "(17-item version)" is the version, not a score
            r"hamilton[- ](?:rating scale for depression|psychiatric rating scale for depression"
            r"|depression(?: rating)?(?: scale)?)(?: \((?:ham-?d|hdrs)(?:[- ]?17)?\))?"
            r"(?: \(?17[- ]items?(?: version)?\)?)?(?: 17)?(?: total)?(?: score)?",
            r"(?:ham-?d|hdrs)(?:[- ]?17)?(?!\s*items?\b)(?: \(?17[- ]items?(?: version)?\)?)?"
            r"(?: total)?(?: score)?",
        ),
        None,
        ((0.0, 52.0, "1"),),
    ),
    Analyte(
        "nihss",
        "score",
        (
            r"national institutes? of health stroke scale(?: \(nihss\))?(?: score)?",
            r"nihss(?: score)?",
        ),
        None,
        ((0.0, 42.0, "1"),),
    ),
    Analyte(
        "hoehn_yahr",
        "score",
        (r"(?:modified )?hoehn(?: and | ?& ?|[- ])yahr(?: \(h&y\))?(?: stage| scale| score)?",),
        None,
        ((0.0, 5.0, "1"),),
        classes=True,
    ),
)

ANALYTE_BY_NAME: dict[str, Analyte] = {a.name: a for a in ANALYTES}
# How evidence names an analyte the note reader found (its key, underscores as spaces, else).
ANALYTE_LABELS: dict[str, str] = {
    "wbc": "WBC", "anc": "ANC", "cd4": "CD4", "hba1c": "HbA1c", "egfr": "eGFR",
    "ast": "AST", "alt": "ALT", "alp": "ALP", "inr": "INR", "ldl": "LDL", "hdl": "HDL",
    "psa": "PSA", "tsh": "TSH", "vitamin_d": "vitamin D", "igf1": "IGF-1", "ldh": "LDH",
    "crp": "CRP", "systolic_bp": "systolic BP", "diastolic_bp": "diastolic BP",
    "lvef": "LVEF", "qtc": "QTc", "fev1_fvc": "FEV1/FVC", "fvc": "FVC", "fev1": "FEV1",
    "ecog": "ECOG", "karnofsky": "Karnofsky", "nyha": "NYHA class", "alsfrs_r": "ALSFRS-R",
    "bmi": "BMI", "mmse": "MMSE", "edss": "EDSS", "hamd": "HAM-D", "nihss": "NIHSS",
    "hoehn_yahr": "Hoehn & Yahr stage",
}  # fmt: skip

# A criterion on "transaminases" (or liver enzymes) applies to each of these patient labs.
ANALYTE_GROUPS: dict[str, tuple[str, ...]] = {"transaminases": ("ast", "alt")}

# --- reproduction, participation, administrative -------------------------------------------

PREGNANCY = r"pregnan\w*|gravid\w*|expecting a (?:baby|child)"
LACTATION = r"lactat\w*|breast[- ]?feed\w*|breast[- ]?fed|nursing(?! (?:home|facility|staff|care))"
CONTRACEPTION = (
    r"contracept\w*|birth control|abstinen\w*|barrier method\w*|(?:effective|adequate|reliable|"
    r"acceptable) (?:method|means|measure)s?"
)
CHILDBEARING = (
    r"child[- ]?bearing (?:potential|age)|reproductive (?:age|potential)|"
    r"(?:able|capable) (?:of|to) (?:becoming|become) pregnant"
)
NOT_PREGNANT = (
    r"negative (?:serum |urine |urinary |blood )?(?:or (?:serum |urine )?)?(?:\w+ )?"
    r"(?:pregnancy test|(?:beta[- ]?|β-?)?hcg)|non-?pregnant|not (?:be )?pregnant"
)
OTHER_STUDY = (
    r"(?:participat\w*|enrolled|enrollment|enrolment|involvement|taking part)"
    r"[^.;]{0,40}?(?:another|other|concurrent|any other|a different)[^.;]{0,30}?"
    r"(?:clinical )?(?:stud(?:y|ies)|trials?|research|protocols?)"
)
INVESTIGATIONAL = (
    r"investigational (?:drugs?|agents?|products?|medicinal products?|therap\w+|device)"
)
ADMINISTRATIVE = (
    r"informed consent|consent form|willing(?:ness)? (?:and able )?to|able to (?:comply|understand"
    r"|read|speak|give)|comply with|complian\w+|speak\w* (?:english|french|spanish|german)"
)
PERMISSION = r"permitted|allowed|acceptable|may (?:be )?(?:continue|receive|use)\w*"
