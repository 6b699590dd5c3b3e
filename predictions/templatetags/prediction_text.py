"""Prediction results in plain words for the teacher pages."""
from __future__ import annotations

from django import template

from modelstore.schema import ATTRIBUTES, FEATURES, PERIOD_GRADES

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
