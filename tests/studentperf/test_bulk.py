"""studentperf.bulk: rows_insert writes rows that read back as bulk_create's do, rows_update the fields asked, each in
one statement."""
from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from predictions.models import BatchJob, BatchRow, Prediction, Student
from studentperf.bulk import rows_insert, rows_update

pytestmark = pytest.mark.django_db


def _fields(obj, *, skip=("id", "created_at", "updated_at")) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in skip}


def _job(user, **fields) -> BatchJob:
    return BatchJob(
        source="api", file_name="class.csv", input_data=b"school;sex\nGP;F\n", input_sha256="a" * 64,
        chunk_size=1000, created_by=user, api_key_prefix="k1", **fields,
    )


def _predictions(version, user, student, record, count) -> list[Prediction]:
    return [
        Prediction(
            student=student if index % 2 else None, model_version=version, setup="AB"[index % 2],
            input=dict(record, G2=None if index % 2 else record["G2"]), predicted_grade=10.5 + index % 8,
            pass_probability=0.25, confidence=0.75, risk=Prediction.Risk.HIGH, interval_low=8.0, interval_high=12.25,
            interval_coverage=0.9, top_factors=[{"feature": "G2", "value": 11, "effect": -1.5, "direction": "lowers"}],
            source=Prediction.Source.BATCH, requested_by=user if index % 2 else None, api_key_prefix="abc",
            latency_ms=3.5, request_id=f"req-{index}",
        )
        for index in range(count)
    ]


def test_rows_read_back_as_bulk_create_writes_them(active_version, user, record):
    student = Student.objects.create(external_id="s-1", teacher=user, **{k: v for k, v in record.items()})
    by_bulk_create = Prediction.objects.bulk_create(_predictions(active_version, user, student, record, 5))
    by_rows_insert = _predictions(active_version, user, student, record, 5)

    rows_insert(Prediction, by_rows_insert)

    stored = Prediction.objects.in_bulk([p.pk for p in by_bulk_create + by_rows_insert])
    assert len(stored) == 10
    for reference, written in zip(by_bulk_create, by_rows_insert):
        assert _fields(stored[written.pk]) == _fields(stored[reference.pk]) == _fields(written)
        assert stored[written.pk].created_at == written.created_at  # the objects carry the time written
    assert stored[by_rows_insert[1].pk].student == student and stored[by_rows_insert[1].pk].requested_by == user


def test_auto_primary_keys_uuid_foreign_keys_binary_and_auto_now_fields(active_version, user, record):
    [prediction] = _predictions(active_version, user, None, record, 1)
    prediction.save()
    jobs = [_job(user, rows_total=2), _job(None, started_at=None)]
    rows_insert(BatchJob, jobs)  # uuid primary key, binary, text, auto_now and auto_now_add
    stored_jobs = BatchJob.objects.in_bulk([job.pk for job in jobs])
    assert _fields(stored_jobs[jobs[0].pk]) == _fields(jobs[0])
    assert stored_jobs[jobs[0].pk].created_at == stored_jobs[jobs[0].pk].updated_at == jobs[0].created_at
    assert bytes(stored_jobs[jobs[1].pk].input_data) == b"school;sex\nGP;F\n"

    rows = [
        BatchRow(job=jobs[0], row_number=1, external_id="s-1", prediction=prediction, final_grade=12),
        BatchRow(job=jobs[0], row_number=2, errors={"age": ["must be an integer from 15 to 22"]}),
    ]
    rows_insert(BatchRow, rows)  # an auto-incremented key, left to the database; a uuid foreign key

    stored = list(BatchRow.objects.filter(job=jobs[0]).order_by("row_number"))
    assert [_fields(row, skip=("id",)) for row in stored] == [_fields(row, skip=("id",)) for row in rows]
    assert stored[0].prediction == prediction and stored[0].pk is not None
    assert not rows[0]._state.adding  # saved: a later save() would update, not insert again


def test_one_statement_in_the_callers_transaction(active_version, user, record):
    objects = _predictions(active_version, user, None, record, 50)
    with CaptureQueriesContext(connection) as captured:
        rows_insert(Prediction, objects)
    inserts = [q["sql"] for q in captured if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].startswith("50 times: INSERT INTO")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        rows_insert(Prediction, _predictions(active_version, user, None, record, 3))
        raise Rollback
    assert Prediction.objects.count() == 50  # the caller's transaction decides: rolled back, nothing kept


def test_a_row_the_database_refuses_refuses_them_all(active_version, user, record):
    objects = _predictions(active_version, user, None, record, 3)
    objects[2].predicted_grade = 25.0  # outside the audit log's 0-20 check constraint

    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Prediction, objects)

    assert Prediction.objects.count() == 0


def test_nothing_to_insert_runs_no_query(db):
    with CaptureQueriesContext(connection) as captured:
        rows_insert(Prediction, [])
    assert captured.captured_queries == []


def test_the_uuid_of_each_row_is_kept(active_version, user, record):
    objects = _predictions(active_version, user, None, record, 3)
    chosen = [uuid.uuid4() for _ in objects]
    for obj, pk in zip(objects, chosen):
        obj.id = pk
    rows_insert(Prediction, objects)
    assert set(Prediction.objects.values_list("id", flat=True)) == set(chosen)


def test_rows_update_writes_the_fields_asked_and_stamps_auto_now_in_one_statement(user, make_user, record):
    colleague = make_user("colleague")
    students = [Student.objects.create(external_id=f"s{n}", teacher=user, **record) for n in range(30)]
    before = {student.pk: student.updated_at for student in students}
    for number, student in enumerate(students):
        student.absences, student.Mjob, student.G2 = number, "health", None
        student.teacher = colleague  # changed on the object, not asked: must not be written

    with CaptureQueriesContext(connection) as queries:
        rows_update(Student, students, fields=["absences", "Mjob", "G2"])

    assert len(queries.captured_queries) == 1
    for number, stored in enumerate(Student.objects.order_by("pk")):
        assert (stored.absences, stored.Mjob, stored.G2, stored.teacher) == (number, "health", None, user)
        assert stored.updated_at > before[stored.pk]
        assert (stored.age, stored.school) == (record["age"], record["school"])


def test_rows_update_of_nothing_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        rows_update(Student, [], fields=["absences"])

    assert not queries.captured_queries
