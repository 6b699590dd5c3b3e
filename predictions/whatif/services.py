"""What-if: a student's prediction as it is and with some of the attributes a student or family can change
(modelstore.schema.ACTIONABLE), side by side, from the same model version and in the same coherent outputs.

Both predictions are written to the audit log with source "what_if" and linked to the student through
`what_if_for`, never through `student`: a what-if is not the student's prediction, so it never becomes their
latest one, their history or a pair in the accuracy check.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from modelstore.schema import ACTIONABLE, FEATURES
from predictions.models import Prediction, Student
from predictions.selectors import student_record_get
from predictions.services import predictions_serve
from predictions.validation import record_clean
from studentperf.errors import ApplicationError

FIELD_PREFIX = "changes."


@dataclass(frozen=True)
class WhatIf:
    current: Prediction
    changed: Prediction
    changes: dict

    @property
    def difference(self) -> dict:
        """changed minus current: the grade in points, the chance to pass as a share."""
        return {
            "predicted_grade": self.changed.predicted_grade - self.current.predicted_grade,
            "pass_probability": self.changed.pass_probability - self.current.pass_probability,
        }


def what_if_changes_clean(*, record: Mapping, changes) -> dict:
    """The changes that alter `record`, validated: only ACTIONABLE attributes, each an allowed value.

    Raises ApplicationError(kind="invalid") naming each bad field as "changes.<name>" (or "changes" itself when
    it is not an object, or changes nothing)."""
    if not isinstance(changes, Mapping):
        raise _invalid({"changes": ["must be an object of attribute names and new values"]})
    errors = {
        f"{FIELD_PREFIX}{name}": [_not_actionable(name)] for name in changes if name not in ACTIONABLE
    }
    if errors:
        raise _invalid(errors)
    try:
        changed = record_clean({**record, **changes})
    except ApplicationError as exc:
        raise _invalid({f"{FIELD_PREFIX}{name}": reasons for name, reasons in exc.fields.items()}) from exc
    cleaned = {name: changed[name] for name in ACTIONABLE if name in changes and changed[name] != record[name]}
    if not cleaned:
        raise _invalid({"changes": ["changes nothing: give at least one attribute a value other than the student's"]})
    return cleaned


def student_what_if(
    *, student: Student, changes, user=None, api_key_prefix: str = "", oauth_client_id: str = "",
    oauth_client_name: str = "",
) -> WhatIf:
    """Predict `student` as stored and with `changes` (what_if_changes_clean) applied, in one model call.

    Raises ApplicationError: kind "invalid" naming the bad changes, "unavailable" without an active model."""
    started = time.perf_counter()
    record = record_clean(student_record_get(student=student))
    cleaned = what_if_changes_clean(record=record, changes=changes)
    current, changed = predictions_serve(
        records=[record, {**record, **cleaned}], students=[None, None], source=Prediction.Source.WHAT_IF,
        user=user, api_key_prefix=api_key_prefix, oauth_client_id=oauth_client_id,
        oauth_client_name=oauth_client_name, started=started, what_if_for=student,
    )
    return WhatIf(current=current, changed=changed, changes=cleaned)


def _not_actionable(name: str) -> str:
    if name not in FEATURES:
        return "is not an attribute of a student record"
    return "cannot be changed in a what-if: only what a student or family can change may be (" + ", ".join(
        ACTIONABLE
    ) + ")"


def _invalid(fields: dict) -> ApplicationError:
    return ApplicationError("Invalid what-if changes.", kind="invalid", fields=fields)
