"""Reads for retraining: the school's students with a recorded final grade."""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from modelstore.schema import FEATURES, TARGET
from predictions.models import Outcome

if TYPE_CHECKING:
    import pandas as pd


def retraining_rows() -> pd.DataFrame:
    """One row per student with a current outcome: the student's attributes as stored (None where unknown),
    G3 (the current final grade) and `recorded_at`. A corrected grade counts only as corrected (the superseded
    row is not current); a student whose outcome was deleted, or never recorded, is not here."""
    # Read for training only (a worker, `retrain`): the web processes, which count these rows before queueing a
    # run, stay free of pandas (docs/performance.md, "Memory").
    import pandas as pd

    outcomes = _current_outcomes().select_related("student").order_by("student_id")
    rows = [
        {
            **{name: getattr(outcome.student, name) for name in FEATURES},
            TARGET: outcome.final_grade,
            "recorded_at": outcome.recorded_at,
        }
        for outcome in outcomes
    ]
    # Objects: an unknown number stays None (not NaN in a float column), as the served path receives it.
    return pd.DataFrame(rows, columns=[*FEATURES, TARGET, "recorded_at"], dtype=object)


def retraining_rows_count() -> int:
    """How many rows retraining_rows() would return, without reading them."""
    return _current_outcomes().count()


def _current_outcomes() -> QuerySet[Outcome]:
    return Outcome.objects.filter(is_current=True)
