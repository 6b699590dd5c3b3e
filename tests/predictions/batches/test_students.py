"""A class upload becomes students (issue 17 item 1): created or updated by external_id among the uploader's
students of the school, each linked to its new prediction; rows without an id predicted only; another teacher's
student never touched nor revealed (issue 18, attack 7)."""
from __future__ import annotations

import csv
import io

import pytest

from predictions.batches.files import MIN_CHUNK_SIZE, PROGRESS_STEPS, batch_chunk_size
from predictions.batches.results import batch_results_csv
from predictions.batches.selectors import batch_job_summary
from predictions.batches.services import batch_job_create, batch_job_process
from predictions.models import BatchJob, BatchRow, Prediction, Student
from predictions.selectors import quick_prediction_list_for_user, student_list_with_latest_prediction
from predictions.services import prediction_create
from studentperf.errors import ApplicationError

from tests.predictions.batches.support import UCI_FILE, broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db


def upload(data: bytes, *, user=None, api_key=None, save_students=True) -> BatchJob:
    job = batch_job_create(
        data=data, file_name="class.csv", source="web", user=user, api_key=api_key, save_students=save_students
    )
    batch_job_process(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def results(job: BatchJob) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(batch_results_csv(job=job)))))


def class_file(record: dict, ids: list[str], **changes) -> bytes:
    rows = [dict(record, **changes, external_id=external_id) for external_id in ids]
    return csv_text(rows).encode()


def test_a_class_upload_creates_the_uploaders_students_each_with_its_prediction(
    broker, user, active_version, record
):
    job = upload(class_file(record, ["s1", "s2", "s3"]), user=user)

    students = Student.objects.filter(teacher=user).order_by("external_id")
    assert [student.external_id for student in students] == ["s1", "s2", "s3"]
    assert all(student.school == record["school"] and student.age == record["age"] for student in students)
    for student in students:
        [prediction] = Prediction.objects.filter(student=student)
        assert prediction.batch_row.job == job and prediction.source == "batch"
    dashboard = student_list_with_latest_prediction(user=user)
    assert all(row.latest_prediction_id is not None for row in dashboard)
    assert batch_job_summary(job=job)["students"] == {"created": 3, "updated": 0, "no_id": 0, "not_allowed": 0}
    assert [row["student"] for row in results(job)] == ["added"] * 3


def test_uploading_the_same_class_again_updates_the_students_and_never_duplicates(
    broker, user, active_version, record
):
    upload(class_file(record, ["s1", "s2"]), user=user)

    job = upload(class_file(record, ["s1", "s2"], absences=30), user=user)

    assert Student.objects.count() == 2
    assert set(Student.objects.values_list("absences", flat=True)) == {30}
    assert batch_job_summary(job=job)["students"]["updated"] == 2
    for student in Student.objects.all():
        latest = student_list_with_latest_prediction(user=user).get(pk=student.pk)
        assert Prediction.objects.get(pk=latest.latest_prediction_id).batch_row.job == job
        assert Prediction.objects.filter(student=student).count() == 2


def test_an_empty_sensitive_cell_keeps_what_the_student_already_has_and_the_prediction_uses_it(
    broker, user, active_version, record
):
    Student.objects.create(external_id="s1", teacher=user, **dict(record, Dalc=4, Walc=None))

    job = upload(class_file(record, ["s1", "s2"], Dalc=None, Walc=None, absences=12), user=user)

    kept, new = Student.objects.order_by("external_id")
    assert (kept.Dalc, kept.Walc, kept.absences) == (4, None, 12)  # kept; still unknown; updated from the file
    assert (new.Dalc, new.Walc) == (None, None)
    assert batch_job_summary(job=job)["students"] == {"created": 1, "updated": 1, "no_id": 0, "not_allowed": 0}
    assert Prediction.objects.get(student=kept).input["Dalc"] == 4
    assert Prediction.objects.get(student=new).unknown_attributes == ["Dalc", "Walc"]


def test_rows_without_an_external_id_are_predicted_but_not_saved_and_counted(broker, user, active_version, record):
    job = upload(class_file(record, ["s1", "", ""]), user=user)

    assert list(Student.objects.values_list("external_id", flat=True)) == ["s1"]
    assert (job.rows_done, job.rows_failed) == (3, 0)
    assert batch_job_summary(job=job)["students"] == {"created": 1, "updated": 0, "no_id": 2, "not_allowed": 0}
    assert [row["student"] for row in results(job)] == ["added", "not saved: no external_id",
                                                         "not saved: no external_id"]


def test_another_teachers_student_is_neither_changed_nor_revealed(broker, user, colleague, active_version, record):
    theirs = Student.objects.create(external_id="s2", teacher=colleague, **dict(record, absences=3))

    job = upload(class_file(record, ["s1", "s2"], absences=40), user=user)

    theirs.refresh_from_db()
    assert (theirs.teacher, theirs.absences) == (colleague, 3)
    assert not Prediction.objects.filter(student=theirs).exists()
    mine = Student.objects.get(teacher=user, external_id="s2")  # the uploader's own s2, in their namespace
    assert mine.absences == 40 and Prediction.objects.filter(student=mine).count() == 1
    rows = results(job)
    assert [row["student"] for row in rows] == ["added", "added"]  # exactly as if the colleague's s2 did not exist
    assert batch_job_summary(job=job)["students"] == {"created": 2, "updated": 0, "no_id": 0, "not_allowed": 0}


def test_a_rejected_row_saves_no_student(broker, user, active_version, record):
    job = upload(class_file(record, ["s1"], age=99), user=user)

    assert not Student.objects.exists()
    assert results(job)[0]["student"] == ""


def test_without_save_students_nothing_is_saved(broker, user, active_version, record):
    job = upload(class_file(record, ["s1"]), user=user, save_students=False)

    assert not Student.objects.exists()
    assert batch_job_summary(job=job)["students"] is None
    assert results(job)[0]["student"] == ""


def test_a_role_that_cannot_add_students_may_not_ask_to_save_them(broker, model_admin, record):
    with pytest.raises(ApplicationError) as raised:
        batch_job_create(data=class_file(record, ["s1"]), file_name="c.csv", source="web", user=model_admin,
                         save_students=True)

    assert raised.value.kind == "forbidden" and "save_students" in raised.value.fields
    assert not BatchJob.objects.exists()


def test_an_api_key_needs_the_write_scope_and_its_students_have_no_teacher(
    broker, make_api_key, active_version, record
):
    reader, _ = make_api_key(scopes=("predict", "read"))
    with pytest.raises(ApplicationError) as raised:
        batch_job_create(data=class_file(record, ["s1"]), file_name="c.csv", source="api", api_key=reader,
                         save_students=True)
    assert raised.value.kind == "forbidden"

    writer, _ = make_api_key(scopes=("predict", "write"))
    job = upload(class_file(record, ["s1"]), api_key=writer)

    student = Student.objects.get()
    assert student.teacher is None and job.api_key_prefix == writer.prefix
    assert Prediction.objects.get(student=student).api_key_prefix == writer.prefix


def test_a_keys_class_upload_keeps_to_the_students_without_a_teacher(
    broker, user, make_api_key, active_version, record
):
    teachers = Student.objects.create(external_id="s1", teacher=user, **dict(record, absences=3))
    writer, _ = make_api_key(scopes=("predict", "write"))

    first = upload(class_file(record, ["s1"], absences=20), api_key=writer)
    second = upload(class_file(record, ["s1"], absences=30), api_key=writer)

    teachers.refresh_from_db()
    assert teachers.absences == 3 and not Prediction.objects.filter(student=teachers).exists()
    keys = Student.objects.get(teacher=None)
    assert keys.absences == 30
    assert [results(job)[0]["student"] for job in (first, second)] == ["added", "updated"]


def test_a_key_revoked_before_its_class_upload_runs_saves_nothing(broker, make_api_key, active_version, record):
    writer, _ = make_api_key(scopes=("predict", "write"))
    job = batch_job_create(data=class_file(record, ["s1"]), file_name="c.csv", source="api", api_key=writer,
                           save_students=True)
    writer.revoked = True
    writer.save()

    batch_job_process(job_id=str(job.pk))
    job.refresh_from_db()

    assert not Student.objects.exists()
    assert results(job)[0]["student"] == "not saved: the uploader may not add or change students"
    assert batch_job_summary(job=job)["students"]["not_allowed"] == 1


def test_the_same_id_at_two_schools_is_two_students(broker, user, active_version, record):
    rows = [dict(record, school="GP", external_id="s1"), dict(record, school="MS", external_id="s1")]

    upload(csv_text(rows).encode(), user=user)

    assert sorted(Student.objects.values_list("school", flat=True)) == ["GP", "MS"]


def test_a_class_upload_does_not_push_quick_predictions_off_the_dashboard(broker, user, active_version, record):
    quick = prediction_create(record=record, source="web", user=user)

    upload(UCI_FILE.read_bytes(), user=user, save_students=False)

    assert list(quick_prediction_list_for_user(user=user)) == [quick]


def test_a_class_of_649_rows_moves_its_progress_twenty_times():
    assert batch_chunk_size(rows_total=649, largest=1000) == 33
    assert -(-649 // batch_chunk_size(rows_total=649, largest=1000)) == PROGRESS_STEPS
    assert batch_chunk_size(rows_total=200_000, largest=1000) == 1000
    assert batch_chunk_size(rows_total=30, largest=1000) == MIN_CHUNK_SIZE
    assert batch_chunk_size(rows_total=30, largest=5) == 5


def test_a_chunked_class_upload_saves_every_student_once(broker, user, active_version, record):
    ids = [f"s{number:02d}" for number in range(45)]

    job = upload(class_file(record, ids), user=user)

    assert job.chunk_size == MIN_CHUNK_SIZE and job.chunks.count() == 5
    assert Student.objects.count() == 45
    assert BatchRow.objects.filter(job=job, student_status="created").count() == 45


def test_an_id_twice_in_the_file_is_one_student_with_the_later_values(broker, user, active_version, record):
    rows = [dict(record, external_id="s1", absences=1), dict(record, external_id="s1", absences=7)]

    job = upload(csv_text(rows).encode(), user=user)

    student = Student.objects.get()
    assert student.absences == 7 and Prediction.objects.filter(student=student).count() == 2
    assert [row["student"] for row in results(job)] == ["added", "updated"]


def test_a_student_added_meanwhile_by_someone_else_is_found_on_a_second_look(
    broker, user, active_version, record, monkeypatch
):
    from predictions.batches import students as batch_students

    real = batch_students._students_by_key
    looks = []

    def stale_first_look(keys, **namespace):
        looks.append(keys)
        if len(looks) == 1:  # the teacher's own form saves s1 between the look and the insert
            Student.objects.create(external_id="s1", teacher=user, **record)
            return {}
        return real(keys, **namespace)

    monkeypatch.setattr(batch_students, "_students_by_key", stale_first_look)

    job = upload(class_file(record, ["s1", "s2"], absences=9), user=user)

    assert job.status == "done" and len(looks) == 2
    assert sorted(Student.objects.values_list("external_id", "absences")) == [("s1", 9), ("s2", 9)]
    assert [row["student"] for row in results(job)] == ["updated", "added"]


def test_saving_a_chunks_students_takes_a_few_queries_not_one_per_row(broker, user, active_version, record):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from predictions.batches.files import batch_file_chunks
    from predictions.batches.students import batch_rows_students_save

    def queries(prefix: str, rows: int) -> int:
        data = class_file(record, [f"{prefix}{number}" for number in range(rows)])
        job = batch_job_create(data=data, file_name="c.csv", source="web", user=user, save_students=True)
        [chunk] = batch_file_chunks(data, size=rows)
        with CaptureQueriesContext(connection) as captured:
            batch_rows_students_save(job=job, rows=chunk.read())
        return len(captured.captured_queries)

    # Not one query per row: a lookup, then inserts and updates of many rows each (SQLite splits them by its
    # limit on query parameters, PostgreSQL does not).
    assert queries("a", 5) <= 4 and queries("b", 200) <= 12  # new students
    assert queries("a", 5) <= 4 and queries("b", 200) <= 12  # the same ids again: updates
    assert Student.objects.count() == 205
