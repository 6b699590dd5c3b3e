"""Writes: serve predictions (validated, vectorized, audited in bulk), keep students and their outcomes."""
from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from modelstore.loader import loaded_model_get
from modelstore.ml.inference import predict_records
from modelstore.schema import GRADE_MAX, GRADE_MIN
from studentperf import metrics
from studentperf.bulk import rows_insert
from studentperf.errors import ApplicationError
from studentperf.observability import prediction_log, request_id_get

from .models import Outcome, Prediction, Student
from .selectors import student_record_get
from .validation import external_id_clean, integer_clean, record_clean, records_clean, records_error_fields


def risk_for(*, pass_probability: float) -> str:
    """The risk band of a pass probability, with the thresholds from settings."""
    if pass_probability < settings.RISK_HIGH_BELOW:
        return Prediction.Risk.HIGH
    if pass_probability < settings.RISK_MEDIUM_BELOW:
        return Prediction.Risk.MEDIUM
    return Prediction.Risk.LOW


def prediction_create(
    *, record: Mapping, source: str, user=None, api_key_prefix: str = "", student: Student | None = None,
    oauth_client_id: str = "", oauth_client_name: str = "",
) -> Prediction:
    """Validate one record, predict it with the active model and write its audit row (who asked: `user`, the
    API key's prefix or the OAuth2 client's id and name).

    Raises ApplicationError: kind "invalid" naming every bad field, kind "unavailable" without an active model.
    """
    started = time.perf_counter()
    cleaned = record_clean(record)
    [prediction] = predictions_serve(
        records=[cleaned], students=[student], source=source, user=user, api_key_prefix=api_key_prefix,
        oauth_client_id=oauth_client_id, oauth_client_name=oauth_client_name, started=started,
    )
    return prediction


def prediction_create_many(
    *,
    records: Sequence[Mapping],
    source: str,
    user=None,
    api_key_prefix: str = "",
    students: Sequence[Student | None] | None = None,
    oauth_client_id: str = "",
    oauth_client_name: str = "",
) -> list[Prediction]:
    """Validate all records, predict them in one model call per setup and write all audit rows in one query.

    Nothing is saved unless every record is valid; the error's `fields` are named "<index>.<field>"
    (a record that is not a mapping at all: "<index>"). `students`, when given, pairs one with each record.
    """
    started = time.perf_counter()
    if students is not None and len(students) != len(records):
        raise ValueError("students must pair one student (or None) with each record.")
    cleaned, errors = records_clean(records)
    if errors:
        raise ApplicationError(
            f"Invalid student records: {len(errors)} of {len(cleaned)} refused.",
            kind="invalid",
            fields=records_error_fields(errors),
        )
    if not cleaned:
        return []
    return predictions_serve(
        records=cleaned, students=students or [None] * len(cleaned), source=source, user=user,
        api_key_prefix=api_key_prefix, oauth_client_id=oauth_client_id, oauth_client_name=oauth_client_name,
        started=started,
    )


def predictions_serve(
    *, records: list[dict], students: Sequence[Student | None], source: str, user, api_key_prefix: str, started: float,
    what_if_for: Student | None = None, oauth_client_id: str = "", oauth_client_name: str = "",
) -> list[Prediction]:
    """Predict validated records (record_clean's output) with the active model, one pipeline call per setup,
    and write their audit rows in one bulk insert; `started` (time.perf_counter()) dates the latency logged.
    Each row records the current request id; each prediction gets its log line and is counted in the metrics
    once its row is committed.

    Raises ApplicationError(kind="unavailable") without an active model. Callers validate first and hold the
    transaction: CSV batches commit these rows together with their chunk's own. `what_if_for`: the student a
    what-if was asked for (predictions.whatif). Nothing here is for the challenger: a periodic task finds the
    committed rows in the audit log and scores them in shadow (predictions.shadow).
    """
    if source not in Prediction.Source.values:
        raise ValueError(f"source must be one of {', '.join(Prediction.Source.values)}.")
    loaded = loaded_model_get()
    outputs = predict_records(
        loaded.predictors, records, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS
    )
    # The latency a requester waited for the whole call: validation, model lookup and prediction.
    latency_ms = (time.perf_counter() - started) * 1000
    request_id = request_id_get()
    predictions = [
        Prediction(
            id=uuid.uuid4(),
            student=student,
            what_if_for=what_if_for,
            model_version=loaded.version,
            setup=output["setup"],
            input=record,
            predicted_grade=float(output["predicted_grade"]),
            pass_probability=float(output["pass_probability"]),
            confidence=float(output["confidence"]),
            risk=risk_for(pass_probability=output["pass_probability"]),
            interval_low=float(output["interval"]["low"]),
            interval_high=float(output["interval"]["high"]),
            interval_coverage=float(output["interval"]["coverage"]),
            top_factors=output["top_factors"],
            unusual=output["unusual"],
            unusual_reasons=output["unusual_reasons"],
            source=source,
            requested_by=user,
            api_key_prefix=api_key_prefix,
            oauth_client_id=oauth_client_id,
            oauth_client_name=oauth_client_name,
            latency_ms=latency_ms,
            request_id=request_id,
        )
        for record, student, output in zip(records, students, outputs, strict=True)
    ]
    if len(predictions) == 1:
        # One INSERT: bulk_create would wrap it in BEGIN and COMMIT, two more round trips for nothing.
        predictions[0].save(force_insert=True)
    else:
        rows_insert(Prediction, predictions)  # one statement for all rows: far cheaper than bulk_create
    # Logged and counted once stored: at once outside a transaction, when a CSV chunk commits, never for
    # rows rolled back (so a chunk retried after a failure is not counted twice). robust: a failure there is
    # logged by Django and does not turn predictions already stored into an error.
    transaction.on_commit(
        lambda: _predictions_observe(predictions, source=source, latency_ms=latency_ms), robust=True
    )
    return predictions


def _predictions_observe(predictions: list[Prediction], *, source: str, latency_ms: float) -> None:
    prediction_log(predictions=predictions, latency_ms=latency_ms)
    metrics.predictions_observe(predictions=predictions, source=source, seconds=latency_ms / 1000)


def _student_data_clean(*, data: Mapping, teacher, exclude_pk: int | None = None) -> tuple[str, dict]:
    attributes = {name: value for name, value in data.items() if name != "external_id"}
    fields: dict[str, list[str]] = {}
    record: dict = {}
    try:
        record = record_clean(attributes)
    except ApplicationError as exc:
        fields.update(exc.fields)
    try:
        external_id = external_id_clean(data.get("external_id"), required=True)
    except ValueError as exc:
        fields["external_id"] = [str(exc)]
    if fields:
        raise ApplicationError("Invalid student.", kind="invalid", fields=fields)
    same_id = Student.objects.filter(teacher=teacher, school=record["school"], external_id=external_id)
    if same_id.exclude(pk=exclude_pk).exists():
        raise _student_conflict(school=record["school"], teacher=teacher)
    return external_id, record


def _student_conflict(*, school: str, teacher) -> ApplicationError:
    # An id is unique among one teacher's students of a school (or among those without a teacher): the conflict
    # is always with a student the same teacher owns, never one the requester may not see (issue 18, attack 7).
    whose = "of the same teacher" if teacher is not None else "without a teacher"
    return ApplicationError(
        f"Another student {whose} already has this id at this school.",
        kind="conflict",
        fields={"external_id": [f"is already used by another student {whose} at school {school}"]},
    )


def _student_save(student: Student) -> Student:
    try:
        with transaction.atomic():
            student.save()
    except IntegrityError as exc:  # a concurrent writer took the same (teacher, school, external_id)
        raise _student_conflict(school=student.school, teacher=student.teacher) from exc
    return student


def student_create(*, data: Mapping, teacher) -> Student:
    """A new student of `teacher` (None: an API key's, without a teacher) from `external_id` plus the record
    attributes (validated like any record). The id is unique among that teacher's students of the school."""
    external_id, record = _student_data_clean(data=data, teacher=teacher)
    return _student_save(Student(external_id=external_id, teacher=teacher, **record))


def student_update(*, student: Student, data: Mapping) -> Student:
    """Change some of a student's attributes; the whole resulting record is validated again, and a new id must
    be free among the students of the same teacher (whoever edits)."""
    merged = {"external_id": student.external_id, **student_record_get(student=student), **data}
    external_id, record = _student_data_clean(data=merged, teacher=student.teacher, exclude_pk=student.pk)
    student.external_id = external_id
    for name, value in record.items():
        setattr(student, name, value)
    return _student_save(student)


def outcome_record(*, student: Student, final_grade, user) -> Outcome:
    """Record the final grade a student obtained; a second call is a correction that keeps the history."""
    try:
        grade = integer_clean(final_grade, minimum=GRADE_MIN, maximum=GRADE_MAX)
    except ValueError as exc:
        raise ApplicationError("Invalid final grade.", kind="invalid", fields={"final_grade": [str(exc)]}) from exc
    with transaction.atomic():
        current = Outcome.objects.select_for_update().filter(student=student, is_current=True).first()
        if current is not None:
            current.is_current = False
            current.save(update_fields=["is_current"])
        return Outcome.objects.create(
            student=student, final_grade=grade, is_current=True, supersedes=current, recorded_by=user
        )
