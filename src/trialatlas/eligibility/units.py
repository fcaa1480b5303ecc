"""Units of lab values and thresholds: recognise how they are written, convert with pint.

Criteria and patient notes write the same quantity many ways ("1.5 × 10^9/L", "1,500/mm3",
"1500 cells/µL", "G/L"). Each written form maps to a unit *key*; keys convert into each other
through pint (with the analyte's molar mass between mass and molar concentrations). pint is
loaded on first use and every conversion is reduced once to ``y = a·x + b`` and cached, so
matching thousands of trials costs a dict lookup per comparison.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# (written form, key). Order matters: the first form that matches the whole text wins.
_FORMS: tuple[tuple[str, str], ...] = (
    (
        r"(?:[x×*·]\s*)?10\s*(?:\^|\*\*|e|exp)?\s*[(\[]?\s*(?:9|⁹)\s*[)\]]?\s*(?:cells?\s*)?"
        r"(?:/|per)\s*l(?:iter|itre)?",
        "10^9/L",
    ),
    (
        r"(?:[x×*·]\s*)?10\s*(?:\^|\*\*|e|exp)?\s*[(\[]?\s*(?:3|³)\s*[)\]]?\s*(?:cells?\s*)?"
        r"(?:/|per)\s*(?:[µμu]l|mcl|mm\s*\^?\s*3|mm³|cmm|cu\.?\s*mm)",
        "10^3/uL",
    ),
    (r"(?:k|thou)\s*/\s*(?:[µμu]l|mcl|mm\^?3|mm³|cmm)", "10^3/uL"),
    (r"(?:cells?\s*)?(?:/|per)\s*(?:mm\s*\^?\s*3|mm³|cu\.?\s*mm|cubic\s*mm|cmm)", "/mm3"),
    (r"(?:cells?\s*)?(?:/|per)\s*(?:[µμu]l|mcl|microlit(?:er|re))", "/uL"),
    (r"g(?:iga)?\s*/\s*l", "g/L"),
    (r"g\s*/\s*dl", "g/dL"),
    (r"mg\s*/\s*dl", "mg/dL"),
    (r"mg\s*/\s*l", "mg/L"),
    (r"mg\s*/\s*ml", "mg/mL"),
    (r"(?:[µμu]g|mcg)\s*/\s*l", "ug/L"),
    (r"(?:[µμu]g|mcg)\s*/\s*dl", "ug/dL"),
    (r"ng\s*/\s*ml", "ng/mL"),
    (r"ng\s*/\s*dl", "ng/dL"),
    (r"pg\s*/\s*ml", "pg/mL"),
    (r"mmol\s*/\s*mol", "mmol/mol"),
    (r"mmol\s*/\s*l", "mmol/L"),
    (r"(?:[µμu]mol|micromol)\s*/\s*l", "umol/L"),
    (r"nmol\s*/\s*l", "nmol/L"),
    (r"pmol\s*/\s*l", "pmol/L"),
    (r"meq\s*/\s*l", "mEq/L"),
    (r"(?:[µμu]iu\s*/\s*ml|miu\s*/\s*l)", "mIU/L"),
    (r"(?:i?u|ku)\s*/\s*l", "U/L"),
    (r"iu\s*/\s*ml", "IU/mL"),
    (
        r"ml\s*/\s*min(?:ute)?(?:\s*(?:/|per)\s*1[.,]73\s*(?:m\s*\^?\s*2|m²|sq\.?\s*m|m2))?",
        "mL/min",
    ),
    (r"kg\s*/\s*m\s*(?:\^?\s*2|²)", "kg/m2"),
    (r"mm\s*hg", "mmHg"),
    (r"bpm|beats?\s*(?:/|per)\s*min(?:ute)?|/\s*min", "bpm"),
    (r"(?:°|º|deg(?:rees?)?\s*)\s*c", "degC"),
    (r"(?:°|º|deg(?:rees?)?\s*)\s*f", "degF"),
    (r"kg|kilograms?", "kg"),
    (r"lbs?|pounds?", "lb"),
    (r"cm", "cm"),
    (r"m?sec|ms", "ms"),
    (r"copies\s*/\s*ml", "copies/mL"),
    (r"%|percent", "%"),
    (
        r"(?:[x×*]|times|fold)?\s*(?:the\s+)?(?:institutional\s+|normal\s+)?(?:upper\s+limits?\s+"
        r"(?:of\s+)?(?:the\s+)?(?:institutional\s+)?normal(?:\s+(?:range|values?|limits?))?"
        r"|uln|upper\s+normal\s+limits?|normality\s+upper\s+limits?|normal\s+upper\s+limits?"
        r"|(?:the\s+)?normal\s+(?:range|values?|limits?))(?:\s*\(\s*uln\s*\))?",
        "ULN",
    ),
    # "2 times normal", "2X UNL": a multiple of the normal limit said briefly.
    (r"(?:[x×*]|times|fold)\s*(?:the\s+)?(?:normal|unl|nl)\b", "ULN"),
)
_COMPILED = tuple((re.compile(form, re.IGNORECASE), key) for form, key in _FORMS)

# The union of written forms, for finding a unit right after a number.
UNIT_PATTERN = "|".join(f"(?:{form})" for form, _ in _FORMS)

# Keys pint understands: (pint expression, scale), so that key = scale × expression.
_PINT: dict[str, tuple[str, float]] = {
    "10^9/L": ("1/L", 1e9),
    "10^3/uL": ("1/uL", 1e3),
    "/mm3": ("1/mm**3", 1.0),
    "/uL": ("1/uL", 1.0),
    "g/L": ("g/L", 1.0),
    "g/dL": ("g/dL", 1.0),
    "mg/dL": ("mg/dL", 1.0),
    "mg/L": ("mg/L", 1.0),
    "mg/mL": ("mg/mL", 1.0),
    "ug/L": ("ug/L", 1.0),
    "ug/dL": ("ug/dL", 1.0),
    "ng/mL": ("ng/mL", 1.0),
    "ng/dL": ("ng/dL", 1.0),
    "pg/mL": ("pg/mL", 1.0),
    "mmol/L": ("mmol/L", 1.0),
    "umol/L": ("umol/L", 1.0),
    "nmol/L": ("nmol/L", 1.0),
    "pmol/L": ("pmol/L", 1.0),
    "mL/min": ("mL/min", 1.0),
    "kg": ("kg", 1.0),
    "lb": ("lb", 1.0),
    "cm": ("cm", 1.0),
    "ms": ("ms", 1.0),
    "degC": ("degC", 1.0),
    "degF": ("degF", 1.0),
    "mmHg": ("mmHg", 1.0),
    "%": ("percent", 1.0),
    "fraction": ("dimensionless", 1.0),
}
# Keys that are cell counts: "G/L" written for a count means giga-cells per litre.
COUNT_KEYS = frozenset({"10^9/L", "10^3/uL", "/mm3", "/uL"})


@functools.cache
def unit_key(written: str) -> str | None:
    """The key of a written unit ("cells/µL" -> "/uL"), or None if it is not recognised."""
    text = written.strip()
    for pattern, key in _COMPILED:
        if pattern.fullmatch(text):
            return key
    return None


def for_analyte(key: str | None, canonical: str | None) -> str | None:
    """Read a key in the light of what is measured: "g/L" of platelets is 10^9/L."""
    if key == "g/L" and canonical in COUNT_KEYS:
        return "10^9/L"
    return key


@functools.cache
def _registry() -> Any:
    """pint's registry, its parsed definitions kept beside the criteria cache: building it
    from pint's definition files takes a fresh process 165 ms, loading it 20 ms."""
    import pint

    from trialatlas.eligibility.cache import default_path  # here: the cache imports this

    try:
        return pint.UnitRegistry(cache_folder=default_path().parent / "pint")
    except OSError:  # no writable cache directory: parse the definitions every time
        return pint.UnitRegistry()


@functools.cache
def _linear(source: str, target: str, molar_mass: float | None) -> tuple[float, float] | None:
    """(a, b) with target = a·source + b, or None when the two cannot be converted."""
    if source not in _PINT or target not in _PINT:
        return None
    ureg = _registry()

    def convert(value: float) -> float:
        expr, scale = _PINT[source]
        quantity = ureg.Quantity(value * scale, expr)
        goal_expr, goal_scale = _PINT[target]
        goal = ureg.Quantity(1, goal_expr)
        if quantity.dimensionality != goal.dimensionality and molar_mass:
            molar = ureg.Quantity(molar_mass, "g/mol")
            quantity = quantity / molar if "[mass]" in quantity.dimensionality else quantity * molar
        return float(quantity.to(goal_expr).magnitude) / goal_scale

    try:
        zero, one = convert(0.0), convert(1.0)
    except Exception:  # pint raises several error types for incompatible dimensions
        return None
    return one - zero, zero


def convert(
    value: float, source: str, target: str, molar_mass: float | None = None
) -> float | None:
    """``value`` in ``source`` units expressed in ``target`` units, or None if impossible."""
    if source == target:
        return value
    linear = _linear(source, target, molar_mass)
    if linear is None:
        return None
    a, b = linear
    return a * value + b
