"""Conditions a patient's measurements define, by the usual clinical thresholds.

A note or a profile gives "vitamin D 14 ng/mL" or "BMI 34" far more often than it names
"vitamin D deficiency" or "obesity", yet trials are about, and criteria ask for, the
condition. ``derived_conditions(profile)`` names the conditions the profile's labs and vitals
meet, each with the value and the threshold that make it, so the matcher can cite them
("vitamin D deficiency (vitamin D 14 ng/mL, below 20 ng/mL)") and retrieval can search for
them. One measurement is not a diagnosis: these are what the numbers say, shown as such.

Thresholds are the common adult definitions (WHO anaemia by sex and pregnancy, Endocrine
Society vitamin D, WHO BMI classes, ADA HbA1c); a condition the profile states, or says the
patient does not have, is not derived again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from trialatlas.eligibility import lexicon, units
from trialatlas.eligibility.extract import analyte_mentions, view
from trialatlas.eligibility.profile import Measured, Profile
from trialatlas.eligibility.terms import concept_key


@dataclass(frozen=True, slots=True)
class Threshold:
    """``condition`` when ``analyte`` (in its canonical unit) is below ``below`` or at least
    ``at_least``; ``sex`` / ``pregnant`` restrict the rule to those patients.

    ``searched``: the condition is what a trial is often about in its own right, so
    retrieval searches for it (vitamin D deficiency, anaemia). Signs of an illness (fever,
    leukocytosis, low sodium) and body-size classes are only matched: every note states
    them, and a search for them finds trials on them rather than on what the patient has.
    """

    analyte: str
    condition: str
    below: float | None = None
    at_least: float | None = None
    sex: str | None = None
    pregnant: bool | None = None
    searched: bool = False
    adults: bool = True  # children have their own reference ranges

    def holds(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        return self.at_least is not None and value >= self.at_least

    def phrase(self, unit: str | None) -> str:
        limit = self.below if self.below is not None else self.at_least
        side = "below" if self.below is not None else "at least"
        return f"{side} {limit:g} {unit or ''}".rstrip()


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("hemoglobin", "anemia", below=11.0, pregnant=True, searched=True),
    Threshold("hemoglobin", "anemia", below=13.0, sex="male", searched=True),
    Threshold("hemoglobin", "anemia", below=12.0, pregnant=False, searched=True),
    Threshold("platelets", "thrombocytopenia", below=150.0),
    Threshold("wbc", "leukopenia", below=4.0),
    Threshold("wbc", "leukocytosis", at_least=11.0),
    Threshold("anc", "neutropenia", below=1.5),
    Threshold("lymphocytes", "lymphopenia", below=1.0),
    Threshold("sodium", "hyponatremia", below=135.0),
    Threshold("sodium", "hypernatremia", at_least=146.0),
    Threshold("potassium", "hypokalemia", below=3.5),
    Threshold("potassium", "hyperkalemia", at_least=5.5),
    Threshold("calcium", "hypocalcemia", below=8.5),
    Threshold("calcium", "hypercalcemia", at_least=10.6),
    Threshold("albumin", "hypoalbuminemia", below=3.5),
    Threshold("vitamin_d", "vitamin D deficiency", below=20.0, searched=True),
    Threshold("vitamin_d", "vitamin D insufficiency", below=30.0, searched=True),
    Threshold("hba1c", "diabetes mellitus", at_least=6.5, searched=True),
    Threshold("ldl", "hypercholesterolemia", at_least=190.0, searched=True),
    Threshold("cholesterol", "hypercholesterolemia", at_least=240.0, searched=True),
    Threshold("triglycerides", "hypertriglyceridemia", at_least=500.0, searched=True),
    Threshold("egfr", "renal insufficiency", below=60.0, searched=True),
    Threshold("creatinine_clearance", "renal insufficiency", below=60.0, searched=True),
    Threshold("lvef", "left ventricular dysfunction", below=40.0, searched=True),
    Threshold("bmi", "obesity", at_least=30.0),
    Threshold("bmi", "overweight", at_least=25.0),
    Threshold("bmi", "thinness", below=18.5),
    Threshold("temperature", "fever", at_least=38.0),
    Threshold("heart_rate", "tachycardia", at_least=101.0),
    Threshold("oxygen_saturation", "hypoxia", below=90.0),
    Threshold("systolic_bp", "hypotension", below=90.0),
)


_IMPLIED = (("overweight", "obesity"), ("vitamin D insufficiency", "vitamin D deficiency"))


@dataclass(frozen=True, slots=True)
class Derived:
    """A condition the numbers meet, and the measurement and threshold that say so."""

    condition: str
    measurement: Measured
    threshold: Threshold

    @property
    def evidence(self) -> str:
        """What the matcher shows: "anemia (hemoglobin 9.5 g/dL, below 12 g/dL)"."""
        limit = self.threshold.phrase(lexicon.ANALYTE_BY_NAME[self.threshold.analyte].unit)
        return f"{self.condition} ({measurement_text(self.measurement)}, {limit})"


def measurement_text(m: Measured) -> str:
    """A measurement as evidence shows it: "heart rate 115 bpm", "LDL 545 mg/dL", or the name
    the profile gave ("Hgb 10.5 g/dL")."""
    name = lexicon.ANALYTE_LABELS.get(m.name) or m.name.replace("_", " ")
    return f"{name} {m.value:g} {m.unit or ''}".rstrip()


def analyte_of(name: str) -> lexicon.Analyte | None:
    """The analyte a profile's measurement names: its key ("hemoglobin") or a written name
    ("Hgb", "serum sodium")."""
    if name in lexicon.ANALYTE_BY_NAME:
        return lexicon.ANALYTE_BY_NAME[name]
    found = analyte_mentions(view(name))
    return found[0].analyte if found else None


def reading_unit(m: Measured, analyte: lexicon.Analyte) -> str | None:
    """The unit key the measurement is in; a bare number takes the unit its size implies."""
    key = units.for_analyte(units.unit_key(m.unit), analyte.unit) if m.unit else None
    if key is None:
        key = next((k for lo, hi, k in analyte.bare if lo <= m.value <= hi), analyte.unit)
    return key


def _canonical(m: Measured, analyte: lexicon.Analyte) -> float | None:
    """The measurement in the analyte's canonical unit; None when the units do not convert."""
    key = reading_unit(m, analyte)
    if analyte.unit is None or key == analyte.unit:
        return m.value
    return units.convert(m.value, key, analyte.unit, analyte.molar_mass) if key else None


@functools.lru_cache(maxsize=256)
def derived_conditions(profile: Profile) -> tuple[Derived, ...]:
    """The conditions the profile's measurements meet and its conditions do not already say
    (stated, also as a narrower form, or denied). The first threshold that holds is shown."""
    said = {concept_key(c) for c in (*profile.conditions, *profile.absent_conditions)}
    found: dict[str, Derived] = {}
    for m in profile.measurements:
        analyte = analyte_of(m.name)
        value = _canonical(m, analyte) if analyte else None
        if analyte is None or value is None:
            continue
        for rule in THRESHOLDS:
            if rule.analyte != analyte.name or rule.condition in found:
                continue
            key = concept_key(rule.condition)
            if (
                _applies(rule, profile)
                and rule.holds(value)
                and not any(key <= known for known in said)
            ):
                found[rule.condition] = Derived(rule.condition, m, rule)
    # the milder class is implied by the stronger one: obesity is not also "overweight"
    for milder, stronger in _IMPLIED:
        if stronger in found or concept_key(stronger) in said:
            found.pop(milder, None)
    return tuple(found.values())


def _applies(rule: Threshold, profile: Profile) -> bool:
    if rule.adults and profile.age is not None and profile.age < 18:
        return False
    if rule.sex is not None and profile.sex != rule.sex:
        return False
    return rule.pregnant is None or bool(profile.pregnant) == rule.pregnant
