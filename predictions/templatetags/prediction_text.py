"""Prediction results in plain words for the teacher pages."""
from __future__ import annotations

from django import template

from modelstore.schema import ATTRIBUTES, FEATURES, PERIOD_GRADES, SETUP_DESCRIPTIONS

from ..forms import choice_text

register = template.Library()


def _value_text(name: str, value) -> str:
    if value is None:
        return "not known yet"
    feature = FEATURES.get(name)
    return choice_text(feature, value) if feature else str(value)


@register.filter
def factor_sentence(factor: dict) -> str:
    """ "absences = 10 lowers the predicted grade by 0.8 points" """
    points = f"{abs(float(factor['effect'])):.1f}"
    subject = f"{factor['feature']} = {_value_text(factor['feature'], factor['value'])}"
    if points == "0.0":
        return f"{subject} barely changes the predicted grade"
    verb = "raises" if factor["effect"] > 0 else "lowers"
    unit = "point" if points == "1.0" else "points"
    return f"{subject} {verb} the predicted grade by {points} {unit}"


@register.filter
def record_rows(record: dict) -> list[tuple[str, str, str]]:
    """(name, label, value in words) for each attribute of a stored record, in schema order."""
    return [
        (feature.name, feature.label, _value_text(feature.name, record.get(feature.name)))
        for feature in ATTRIBUTES + PERIOD_GRADES
    ]


@register.filter
def factor_bars(factors: list[dict]) -> list[dict]:
    """Each factor as a bar of a chart centred on "no effect": `label`, `value` (in words), `effect_text`
    ("+1.0 points"), `sentence`, `raises`, and `x`/`width` on a 0-100 scale (50 is no effect, the largest
    effect reaches an edge)."""
    largest = max((abs(float(factor["effect"])) for factor in factors), default=0.0) or 1.0
    bars = []
    for factor in factors:
        effect = float(factor["effect"])
        feature = FEATURES.get(factor["feature"])
        width = round(50 * abs(effect) / largest, 2)
        bars.append({
            "feature": factor["feature"],
            "label": feature.label if feature else factor["feature"],
            "value": _value_text(factor["feature"], factor["value"]),
            "effect_text": f"{effect:+.1f} points",
            "sentence": factor_sentence(factor),
            "raises": effect > 0,
            "x": 50 if effect > 0 else 50 - width,
            "width": width,
        })
    return bars


@register.filter
def setup_text(setup: str) -> str:
    """ "A" -> "G1 and G2 known (end of the second period)" """
    return SETUP_DESCRIPTIONS.get(setup, "")
