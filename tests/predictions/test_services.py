from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from predictions.models import Outcome, Prediction, Student
from predictions.selectors import outcome_history, prediction_list_for_user, student_list_for_user, student_record_get
from predictions.services import (
    outcome_record,
    prediction_create,
    prediction_create_many,
    risk_for,
    student_create,
    student_update,
)
from predictions.validation import record_clean
from studentperf.errors import ApplicationError

OUTPUT_FIELDS = (
    "setup", "predicted_grade", "pass_probability", "confidence", "risk", "interval_low", "interval_high",
    "interval_coverage",
)


@pytest.fixture
def mixed_records(dataset) -> list[dict]:
    """Twelve real students: four with G1 and G2 (setup A), four with G1 only (B), four with neither (C)."""
    records = dataset.drop(columns="G3").head(12).to_dict("records")
    for index, record in enumerate(records):
        if index >= 4:
            record["G2"] = None
        if index >= 8:
            record["G1"] = None
    return records


def test_a_prediction_writes_one_audit_row(active_version, user, record, settings):
    prediction = prediction_create(record=record, source="web", user=user)

    row = Prediction.objects.get()
    assert row.pk == prediction.pk
    assert row.model_version == active_version
    assert row.setup == "A"
    assert row.input == record_clean(record)
    assert (row.source, row.requested_by, row.api_key_prefix) == ("web", user, "")
    assert row.latency_ms > 0
    assert 0 <= row.predicted_grade <= 20 and 0 <= row.pass_probability <= 1 and 0 <= row.confidence <= 1
    assert row.interval_low <= row.predicted_grade <= row.interval_high
    assert row.interval_coverage == pytest.approx(settings.PREDICTION_INTERVAL_COVERAGE)
    assert row.risk == risk_for(pass_probability=row.pass_probability)
    assert 0 < len(row.top_factors) <= settings.TOP_FACTORS
    assert all({"feature", "value", "effect"} <= set(factor) for factor in row.top_factors)


def test_the_input_snapshot_is_the_cleaned_record(active_version, record):
    raw = {name: str(value) for name, value in record.items()}
    raw["school"] = " GP "

    prediction = prediction_create(record=raw, source="web")

    assert Prediction.objects.get(pk=prediction.pk).input == record


def test_an_api_key_prefix_is_recorded_as_the_requester(active_version, record):
    prediction = prediction_create(record=record, source="api", api_key_prefix="Ab12Cd34")

    row = Prediction.objects.get(pk=prediction.pk)
    assert (row.source, row.requested_by, row.api_key_prefix) == ("api", None, "Ab12Cd34")


@pytest.mark.parametrize(("g1", "g2", "setup"), [(5, 6, "A"), (5, None, "B"), (None, None, "C"), ("", "", "C")])
def test_the_setup_follows_the_known_period_grades(active_version, record, g1, g2, setup):
    record.update(G1=g1, G2=g2)

    assert prediction_create(record=record, source="web").setup == setup


def test_a_bulk_prediction_equals_predicting_one_by_one(active_version, mixed_records):
    together = prediction_create_many(records=mixed_records, source="batch")
    alone = [prediction_create(record=record, source="batch") for record in mixed_records]

    assert [p.setup for p in together] == ["A"] * 4 + ["B"] * 4 + ["C"] * 4
    for bulk, single in zip(together, alone, strict=True):
        for name in OUTPUT_FIELDS:
            assert getattr(bulk, name) == pytest.approx(getattr(single, name)), name
        assert [f["feature"] for f in bulk.top_factors] == [f["feature"] for f in single.top_factors]
        assert [f["effect"] for f in bulk.top_factors] == pytest.approx([f["effect"] for f in single.top_factors])


def test_a_bulk_prediction_writes_all_rows_in_one_query(active_version, mixed_records):
    prediction_create(record=mixed_records[0], source="batch")  # load the model outside the measured call

    with CaptureQueriesContext(connection) as queries:
        predictions = prediction_create_many(records=mixed_records, source="batch")

    # One statement, executed for each row by the driver: Django logs it once, as "12 times: INSERT INTO ...".
    inserts = [q["sql"] for q in queries if "INSERT INTO" in q["sql"] and "predictions_prediction" in q["sql"]]
    assert inserts and all(sql.startswith(f"{len(mixed_records)} times: INSERT") for sql in inserts)
    assert len(inserts) == 1
    assert len(queries) <= 2  # which version is active, then the insert
    assert Prediction.objects.filter(pk__in=[p.pk for p in predictions]).count() == len(mixed_records)
    assert len({p.pk for p in predictions}) == len(mixed_records)


def test_bulk_audit_rows_read_back_as_they_were_returned(active_version, user, mixed_records):
    """The rows written in one executemany (not bulk_create) hold every field as the returned objects do."""
    student = student_create(data={"external_id": "s-1", **mixed_records[0]}, teacher=user)
    students = [student] + [None] * (len(mixed_records) - 1)

    returned = prediction_create_many(
        records=mixed_records, source="api", user=user, api_key_prefix="abc123", students=students
    )

    stored = Prediction.objects.in_bulk([p.pk for p in returned])
    assert len(stored) == len(returned)
    for prediction in returned:
        row = stored[prediction.pk]
        for field in Prediction._meta.concrete_fields:
            assert getattr(row, field.attname) == getattr(prediction, field.attname), field.name
        assert row.top_factors and isinstance(row.top_factors[0]["effect"], float)
        assert row.input == prediction.input and row.input["G1"] == prediction.input["G1"]
    assert stored[returned[0].pk].student == student and stored[returned[1].pk].student is None
    assert {row.requested_by for row in stored.values()} == {user}
    assert len({row.created_at for row in stored.values()}) == 1
    with pytest.raises(ValueError, match="append-only"):
        returned[0].save()  # returned as saved rows, not as new ones


def test_bulk_requests_pair_students_with_records(active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)

    first, second = prediction_create_many(
        records=[student_record_get(student=student), record], source="api", students=[student, None]
    )

    assert (Prediction.objects.get(pk=first.pk).student, Prediction.objects.get(pk=second.pk).student) == (student, None)


def test_an_invalid_record_saves_nothing(active_version, record):
    with pytest.raises(ApplicationError) as caught:
        prediction_create(record=dict(record, age=40), source="web")

    assert caught.value.fields == {"age": ["must be an integer from 15 to 22"]}
    assert not Prediction.objects.exists()


def test_one_invalid_record_in_a_bulk_request_saves_nothing(active_version, record):
    records = [record, dict(record, age=40, sex="X"), record, "not a record"]

    with pytest.raises(ApplicationError) as caught:
        prediction_create_many(records=records, source="batch")

    assert caught.value.kind == "invalid"
    assert caught.value.fields == {
        "1.age": ["must be an integer from 15 to 22"],
        "1.sex": ["must be one of F, M"],
        "3": ["A student record must map attribute names to values."],
    }
    assert not Prediction.objects.exists()


def test_without_an_active_model_predictions_are_unavailable(db, record):
    with pytest.raises(ApplicationError) as caught:
        prediction_create(record=record, source="web")

    assert caught.value.kind == "unavailable"
    assert not Prediction.objects.exists()


def test_an_empty_bulk_request_predicts_nothing(db):
    assert prediction_create_many(records=[], source="batch") == []


def test_an_unknown_source_is_a_programming_error(active_version, record):
    with pytest.raises(ValueError):
        prediction_create(record=record, source="email")
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("probability", "risk"), [(0.0, "high"), (0.49, "high"), (0.5, "medium"), (0.79, "medium"), (0.8, "low"), (1, "low")]
)
def test_risk_bands_follow_the_thresholds(settings, probability, risk):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.5, 0.8

    assert risk_for(pass_probability=probability) == risk


def test_risk_bands_read_the_settings_at_call_time(settings):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.2, 0.3

    assert [risk_for(pass_probability=p) for p in (0.1, 0.25, 0.4)] == ["high", "medium", "low"]


def test_prediction_rows_cannot_be_updated(active_version, record):
    prediction = prediction_create(record=record, source="web")
    grade = prediction.predicted_grade

    prediction.predicted_grade = 0.0
    with pytest.raises(ValueError, match="append-only"):
        prediction.save()

    with pytest.raises(ValueError, match="append-only"):
        Prediction.objects.filter(pk=prediction.pk).update(predicted_grade=0.0)
    with pytest.raises(ValueError, match="append-only"):
        Prediction.objects.filter(pk=prediction.pk).delete()
    with pytest.raises(ValueError, match="append-only"):
        prediction.delete()

    assert Prediction.objects.get(pk=prediction.pk).predicted_grade == grade


def test_a_teacher_lists_only_the_predictions_they_requested(active_version, user, record, django_user_model):
    colleague = django_user_model.objects.create_user(username="colleague", password="another-long-password")
    boss = django_user_model.objects.create_superuser(username="boss", password="a-third-long-password")
    mine = prediction_create(record=record, source="web", user=user)
    theirs = prediction_create(record=record, source="web", user=colleague)

    assert list(prediction_list_for_user(user=user)) == [mine]
    assert {p.pk for p in prediction_list_for_user(user=boss)} == {mine.pk, theirs.pk}


def test_a_student_is_created_from_a_validated_record(user, record):
    student = student_create(data={"external_id": " 2024-017 ", **{k: str(v) for k, v in record.items()}}, teacher=user)

    student.refresh_from_db()
    assert student.external_id == "2024-017" and student.teacher == user
    assert student_record_get(student=student) == record
    assert list(student_list_for_user(user=user)) == [student]


def test_an_invalid_student_names_every_bad_field(user, record):
    with pytest.raises(ApplicationError) as caught:
        student_create(data=dict(record, age=99, G1=None), teacher=user)

    assert caught.value.fields == {
        "external_id": ["is required"],
        "age": ["must be an integer from 15 to 22"],
        "G1": ["is required when G2 is given"],
    }
    assert not Student.objects.exists()


def test_an_external_id_is_unique_among_one_teachers_students_of_a_school(user, colleague, record):
    student_create(data={"external_id": "7", **record}, teacher=user)
    student_create(data={"external_id": "7", **dict(record, school="MS")}, teacher=user)
    student_create(data={"external_id": "7", **record}, teacher=colleague)  # another teacher's namespace
    student_create(data={"external_id": "7", **record}, teacher=None)  # the teacherless (API keys') namespace

    for teacher in (user, None):
        with pytest.raises(ApplicationError) as caught:
            student_create(data={"external_id": "7", **record}, teacher=teacher)
        assert caught.value.kind == "conflict" and list(caught.value.fields) == ["external_id"]
    assert Student.objects.count() == 4


def test_a_student_update_validates_the_whole_resulting_record(user, record):
    student = student_create(data={"external_id": "7", **dict(record, G2=None)}, teacher=user)

    student_update(student=student, data={"G2": "11", "absences": 2})
    student.refresh_from_db()
    assert (student.G1, student.G2, student.absences) == (5, 11, 2)

    with pytest.raises(ApplicationError) as caught:
        student_update(student=student, data={"G1": None})
    assert caught.value.fields == {"G1": ["is required when G2 is given"]}
    student.refresh_from_db()
    assert student.G1 == 5


def test_an_outcome_correction_keeps_the_history(user, record):
    student = student_create(data={"external_id": "7", **record}, teacher=user)

    first = outcome_record(student=student, final_grade=12, user=user)
    correction = outcome_record(student=student, final_grade="14", user=user)

    first.refresh_from_db()
    assert not first.is_current and first.final_grade == 12
    assert correction.is_current and correction.final_grade == 14 and correction.supersedes == first
    assert list(outcome_history(student=student)) == [correction, first]
    assert Outcome.objects.filter(student=student, is_current=True).get() == correction


@pytest.mark.parametrize("grade", [21, -1, 12.5, "twelve", True, None])
def test_an_outcome_must_be_a_grade_from_0_to_20(user, record, grade):
    student = student_create(data={"external_id": "7", **record}, teacher=user)

    with pytest.raises(ApplicationError) as caught:
        outcome_record(student=student, final_grade=grade, user=user)

    assert caught.value.fields == {"final_grade": ["must be an integer from 0 to 20"]}
    assert not Outcome.objects.exists()


def test_a_prediction_keeps_why_its_record_is_unusual(active_version, odd_record, record):
    odd, typical = prediction_create_many(records=[odd_record, record], source="api")

    stored = Prediction.objects.in_bulk([odd.pk, typical.pk])
    assert stored[odd.pk].unusual is True
    assert stored[odd.pk].unusual_reasons and all(isinstance(reason, str) for reason in stored[odd.pk].unusual_reasons)
    assert any(reason.startswith("age: 22 (") for reason in stored[odd.pk].unusual_reasons)
    assert (stored[typical.pk].unusual, stored[typical.pk].unusual_reasons) == (False, [])
    single = Prediction.objects.get(pk=prediction_create(record=odd_record, source="web").pk)
    assert (single.unusual, single.unusual_reasons) == (True, stored[odd.pk].unusual_reasons)
