"""Prediction results in plain words for the teacher pages."""
from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from django import template
from django.conf import settings

from modelstore.schema import (
    ACTIONABLE, ATTRIBUTES, FEATURES, PERIOD_GRADES, SETUP_DESCRIPTIONS, feature_label, feature_value_text,
)

from ..forms import choice_text
from ..interventions.services import intervention_kind_name

register = template.Library()

# How a factor is marked: something the student or their family can act on, or who they are and where from.
CAN_CHANGE = "can change"
BACKGROUND = "background"


def _value_text(name: str, value) -> str:
    if value is None:
        return "not known yet" if name in PERIOD_NAMES else "unknown"
    if name == "school" and value in settings.SCHOOLS:
        return f"{value} ({settings.SCHOOLS[value]})"
    feature = FEATURES.get(name)
    return choice_text(feature, value) if feature else str(value)


PERIOD_NAMES = frozenset(feature.name for feature in PERIOD_GRADES)


@register.filter
def attribute_words(names: list[str]) -> str:
    """Attribute names in plain words, as a list in a sentence: "in a romantic relationship, weekend alcohol
    consumption"."""
    return ", ".join(feature_label(name) for name in names)


def _mark(name: str) -> str:
    return CAN_CHANGE if name in ACTIONABLE else BACKGROUND


@register.filter
def factor_sentence(factor: dict) -> str:
    """ "school absences: 10 (can change) lowers the predicted grade by 0.8 points" """
    points = f"{abs(float(factor['effect'])):.1f}"
    subject = f"{feature_value_text(factor['feature'], factor['value'])} ({_mark(factor['feature'])})"
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
    """Each factor as a bar of a chart centred on "no effect": `label`, `value` (in words), `actionable` and its
    `mark` ("can change" or "background"), `effect_text` ("+1.0 points"), `sentence`, `raises`, and `x`/`width`
    on a 0-100 scale (50 is no effect, the largest effect reaches an edge)."""
    largest = max((abs(float(factor["effect"])) for factor in factors), default=0.0) or 1.0
    bars = []
    for factor in factors:
        effect = float(factor["effect"])
        feature = FEATURES.get(factor["feature"])
        width = round(50 * abs(effect) / largest, 2)
        bars.append({
            "feature": factor["feature"],
            "label": feature.label if feature else factor["feature"],
            "value": feature.value_words(factor["value"]) if feature else str(factor["value"]),
            "actionable": factor["feature"] in ACTIONABLE,
            "mark": _mark(factor["feature"]),
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


# Every number on the teacher pages is cut, never rounded up: 0.497 shows as 49 %, a grade of 9.46 as 9.4. So a
# shown number is on the same side of every mark as the exact one (a grade of 9.5, a risk threshold of 50 %),
# and the grade, the chance to pass and the risk words cannot seem to disagree.
ONE_PERCENT = Decimal("0.01")
NINETY_NINE_PERCENT = Decimal("0.99")


def _exact(value) -> Decimal:
    """The decimal a float was written as (0.29, not 0.28999999999999998)."""
    return Decimal(repr(float(value)))


def _cut(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)


@register.filter
def chance(probability) -> str:
    """A probability as a whole percent, cut: 0.497 -> "49 %"; below 1 % "<1 %", above 99 % ">99 %"."""
    if probability is None:
        return ""
    exact = _exact(probability)
    if exact < ONE_PERCENT:
        return "<1 %"
    if exact > NINETY_NINE_PERCENT:
        return ">99 %"
    return f"{_cut(exact * 100, 0)} %"


@register.filter
def percent(share) -> str:
    """A share that is not a prediction (an interval's coverage) as a whole percent, cut the same way: 0.9 -> "90 %"."""
    return f"{_cut(_exact(share) * 100, 0)} %"


@register.filter
def grade(value) -> str:
    """A grade with one decimal, cut: 9.46 -> "9.4", 15 -> "15.0"."""
    return "" if value is None else str(_cut(_exact(value), 1))


@register.filter
def intervention_kind(code: str) -> str:
    """An intervention's kind by its name in settings.INTERVENTION_KINDS ("parent_meeting" -> "Parent meeting")."""
    return intervention_kind_name(str(code))


@register.filter
def grade_change(new, old) -> str:
    """How far a grade moved, from the grades as shown (cut to one decimal, so it never contradicts them):
    (10.26, 9.46) -> "+0.8 points"; no move -> "no change"."""
    moved = _cut(_exact(new), 1) - _cut(_exact(old), 1)
    return _signed(moved, "point")


@register.filter
def chance_change(new, old) -> str:
    """How far a chance to pass moved, in percentage points, from the whole percents as shown:
    (0.612, 0.497) -> "+12 points" (49 % to 61 %)."""
    moved = _cut(_exact(new) * 100, 0) - _cut(_exact(old) * 100, 0)
    return _signed(moved, "point")


def _signed(moved: Decimal, unit: str) -> str:
    if moved == 0:
        return "no change"
    sign = "+" if moved > 0 else "−"  # a real minus sign, as typeset
    return f"{sign}{abs(moved)} {unit}{'' if abs(moved) == 1 else 's'}"


# A band the thresholds in settings leave empty (RISK_HIGH_BELOW = 0, or RISK_MEDIUM_BELOW <= RISK_HIGH_BELOW) can
# still be on a prediction made before they were changed.
NO_SUCH_BAND = "a band the current risk thresholds no longer use"


def _threshold_text(threshold: float) -> str:
    """A risk threshold as an exact percent ("50 %", "47.5 %"): a boundary is not rounded at all."""
    return f"{(_exact(threshold) * 100).normalize():f} %"


def _a_percent(threshold: float) -> str:
    """ "a 50 %", "an 80 %", "an 11.5 %": the article as the number is spoken."""
    text = _threshold_text(threshold)
    whole = text.split(" ")[0].split(".")[0]
    return f"{'an' if whole.startswith('8') or whole in ('11', '18') else 'a'} {text}"


@register.filter
def risk_words(band: str) -> str:
    """What a risk band means, from the thresholds in settings, as predictions.services.risk_for applies them:
    high below RISK_HIGH_BELOW, medium from it up to (not including) RISK_MEDIUM_BELOW, low from there up.
    "" for no band (a student not predicted yet)."""
    high_below, medium_below = settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW
    if band == "high":
        return f"less than {_a_percent(high_below)} chance to pass" if high_below > 0 else NO_SUCH_BAND
    if band == "medium":
        if medium_below <= high_below:
            return NO_SUCH_BAND
        return f"at least {_a_percent(high_below)} but less than {_a_percent(medium_below)} chance to pass"
    if band == "low":
        return f"at least {_a_percent(max(high_below, medium_below))} chance to pass"
    return ""

