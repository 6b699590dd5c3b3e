"""A student's progress on their page: the predictions and the interventions on one timeline, and small charts
of the chance to pass and the predicted grade over time with the interventions' dates marked."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from django.utils import timezone
from django.utils.safestring import SafeString

from predictions.interventions.services import intervention_kind_name
from predictions.models import Intervention, Outcome, Prediction
from predictions.monitoring.charts import line_chart

# An intervention has a date, a prediction a moment: the date's noon places it on the same time axis.
INTERVENTION_HOUR = time(12)


def student_timeline(
    *, predictions: Sequence[Prediction], interventions: Sequence[Intervention], outcomes: Sequence[Outcome] = ()
) -> list[dict]:
    """Everything that happened to a student, newest first: {"kind": "prediction" | "intervention" | "outcome",
    "when": an aware datetime, "item": the row}. An intervention sorts at noon of its date."""
    events = [{"kind": "prediction", "when": prediction.created_at, "item": prediction} for prediction in predictions]
    events += [{"kind": "intervention", "when": _moment(item), "item": item} for item in interventions]
    events += [{"kind": "outcome", "when": outcome.recorded_at, "item": outcome} for outcome in outcomes]
    return sorted(events, key=lambda event: event["when"], reverse=True)


def student_progress_charts(
    *, predictions: Sequence[Prediction], interventions: Sequence[Intervention]
) -> dict[str, SafeString] | None:
    """{"chance": svg, "grade": svg} over the student's predictions, interventions marked; None with fewer than
    two predictions and no intervention (a single point is no trend: the page says so)."""
    if len(predictions) < 2 and not interventions:
        return None
    moments = [timezone.localtime(prediction.created_at) for prediction in predictions]
    marks = [
        {"x": timezone.localtime(_moment(item)), "label": f"{intervention_kind_name(item.kind)}, {item.date:%Y-%m-%d}"}
        for item in interventions
    ]
    chance = [{"name": "chance to pass", "points": [(moment, 100 * prediction.pass_probability)
                                                    for moment, prediction in zip(moments, predictions)]}]
    grade = [{"name": "predicted grade", "points": [(moment, prediction.predicted_grade)
                                                    for moment, prediction in zip(moments, predictions)]}]
    return {
        "chance": line_chart(
            chart_id="progress-chance", title="Chance to pass over time",
            description="The chance to pass of each prediction of this student, in percent, with the dates of "
            "the interventions recorded for them marked.",
            series=chance, y_max=100, y_format=lambda value: f"{value:g} %", marks=marks, marks_label="intervention",
            references=[{"label": "50 %", "value": 50}], empty="No prediction yet.",
        ),
        "grade": line_chart(
            chart_id="progress-grade", title="Predicted grade over time",
            description="The predicted final grade (out of 20) of each prediction of this student, with the dates "
            "of the interventions recorded for them marked.",
            series=grade, y_max=20, marks=marks, marks_label="intervention",
            references=[{"label": "pass line (9.5: a final grade of 10 or more)", "value": 9.5}],
            empty="No prediction yet.",
        ),
    }


def _moment(intervention: Intervention) -> datetime:
    return timezone.make_aware(datetime.combine(intervention.date, INTERVENTION_HOUR))
