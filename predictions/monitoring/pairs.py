"""The accuracy check's reads: the pairs it measures, as pandas DataFrames for predictions.monitoring.accuracy.

Only the check imports this module (predictions.monitoring.services.accuracy_check_run, on a worker or in
`check_accuracy`), so that the web processes, which read the monitoring page through
predictions.monitoring.selectors, never import pandas (docs/performance.md, "Memory").
"""
from __future__ import annotations

import pandas as pd
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from modelstore.models import ModelVersion
from predictions.models import Intervention, Outcome, Prediction, ShadowPrediction
from predictions.monitoring.accuracy import INTERVENTION_COLUMNS, PAIR_COLUMNS, SAMPLE_COLUMNS, SUBGROUP_FEATURES


def pairs_frame() -> pd.DataFrame:
    """Every pair known now, all versions, one row each (columns: PAIR_COLUMNS, "risk", "source",
    "prediction_id", and for a student's pair "intervened": an intervention dated on or before the day the
    first outcome was recorded; null for a batch row)."""
    subgroup_columns = {feature: KT(f"input__{feature}") for feature in SUBGROUP_FEATURES}
    columns = ("model_version_id", "predicted_grade", *SAMPLE_COLUMNS, "unusual", "risk")
    first_recorded = Outcome.objects.filter(student=OuterRef("student_id")).order_by("recorded_at", "pk")
    current = Outcome.objects.filter(student=OuterRef("student_id"), is_current=True)
    student_rows = (
        Prediction.objects.filter(student__isnull=False)
        .filter(Q(batch_row__isnull=True) | Q(batch_row__final_grade__isnull=True))  # a G3 in the file comes first
        .annotate(
            final_grade=Subquery(current.values("final_grade")[:1]),
            outcome_recorded_at=Subquery(first_recorded.values("recorded_at")[:1]),
        )
        .filter(final_grade__isnull=False, created_at__lte=F("outcome_recorded_at"))
        .annotate(outcome_day=TruncDate("outcome_recorded_at"))  # the server's time zone, like Intervention.date
        .annotate(intervened=Exists(
            Intervention.objects.filter(student=OuterRef("student_id"), date__lte=OuterRef("outcome_day"))
        ))
        .order_by("model_version_id", "student_id", "-created_at", "-pk")
        .values(
            "student_id", "final_grade", "intervened", *columns, prediction_id=F("id"), **subgroup_columns
        )
    )
    students = pd.DataFrame.from_records(
        list(student_rows), columns=["student_id", *PAIR_COLUMNS, *INTERVENTION_COLUMNS, "prediction_id"]
    )
    # The rows come newest first per (version, student): keep each student's latest forecast.
    students = students.drop_duplicates(["model_version_id", "student_id"], keep="first").drop(columns="student_id")
    batch_rows = (
        Prediction.objects.filter(batch_row__final_grade__isnull=False)
        .values(*columns, final_grade=F("batch_row__final_grade"), prediction_id=F("id"), **subgroup_columns)
    )
    batches = pd.DataFrame.from_records(list(batch_rows), columns=[*PAIR_COLUMNS, "risk", "prediction_id"])
    frames = [frame.assign(source=source) for frame, source in ((students, "student"), (batches, "batch")) if len(frame)]
    if not frames:
        return pd.DataFrame(columns=[*PAIR_COLUMNS, *INTERVENTION_COLUMNS, "source", "prediction_id"])
    return pd.concat(frames, ignore_index=True)


def challenger_pairs_frame(*, pairs: pd.DataFrame, active: ModelVersion, challenger: ModelVersion) -> pd.DataFrame:
    """The active version's pairs (of pairs_frame) whose served prediction the challenger scored in shadow, one
    row per student or batch row: "final_grade", and "active_<column>" and "challenger_<column>" for
    predicted_grade and SAMPLE_COLUMNS (issue 19)."""
    served = pairs[pairs["model_version_id"] == active.pk]
    columns = ("predicted_grade", *SAMPLE_COLUMNS)
    shadows = pd.DataFrame.from_records(
        list(ShadowPrediction.objects.filter(model_version=challenger, prediction__model_version=active)
             .values("prediction_id", *columns)),
        columns=["prediction_id", *columns],
    )
    paired = served[["prediction_id", "final_grade", *columns]].merge(
        shadows, on="prediction_id", suffixes=("_active", "_challenger")
    )
    renamed = {f"{column}_{side}": f"{side}_{column}" for column in columns for side in ("active", "challenger")}
    return paired.rename(columns=renamed).drop(columns="prediction_id").reset_index(drop=True)
