"""POST /api/v1/batches, GET /api/v1/batches/{id} and .../results: statuses, shapes and who sees what."""
from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from predictions.batches.services import BROKER_DOWN, batch_job_process
from predictions.models import BatchJob, Prediction, Student

from tests.predictions.api_answers import refused
from tests.predictions.batches.support import UCI_FILE, broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db
BATCHES = "/api/v1/batches"
JOB_KEYS = {
    "id", "status", "file_name", "rows_total", "rows_done", "rows_failed", "students", "rows_unusual", "error",
    "created_at", "started_at", "finished_at", "results_url",
}


def upload(client, data: bytes, name: str = "class.csv", data_extra: dict | None = None, **extra):
    body = {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **(data_extra or {})}
    return client.post(BATCHES, body, format="multipart", **extra)


@pytest.fixture
def small_file(record) -> bytes:
    return csv_text([record, dict(record, age="99")], extra={"external_id": "S-1"}).encode()


@pytest.fixture
def signed_in():
    from tests.conftest import sign_in

    return lambda user: sign_in(APIClient(), user)


def run(job_id) -> BatchJob:
    return batch_job_process(job_id=str(job_id))


def test_an_upload_answers_202_with_the_job_and_its_urls(
    api_client, broker, small_file, django_capture_on_commit_callbacks
):
    client = api_client("predict")

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, small_file)

    assert response.status_code == 202, response.content
    body = response.json()
    job = BatchJob.objects.get()
    assert body == {
        "id": str(job.pk), "status": "queued", "rows_total": 2,
        "status_url": f"http://testserver/api/v1/batches/{job.pk}",
        "results_url": f"http://testserver/api/v1/batches/{job.pk}/results",
    }
    assert response["Location"] == body["status_url"]
    assert (job.source, job.api_key_prefix, job.created_by, job.file_name) == ("api", client.api_key.prefix, None,
                                                                                "class.csv")
    assert broker.sent == [str(job.pk)]


def test_status_and_results_follow_the_job_to_the_end(api_client, broker, small_file, active_version):
    client = api_client("predict", "read")
    body = upload(client, small_file).json()

    queued = client.get(body["status_url"])
    refused(client.get(body["results_url"]), 409, "conflict")
    run(body["id"])
    done = client.get(body["status_url"])
    results = client.get(body["results_url"])

    assert queued.status_code == 200 and set(queued.json()) == JOB_KEYS
    assert (queued.json()["status"], queued.json()["rows_done"], queued.json()["started_at"]) == ("queued", 0, None)
    assert done.json()["status"] == "done"
    assert (done.json()["rows_total"], done.json()["rows_done"], done.json()["rows_failed"]) == (2, 2, 1)
    assert (queued.json()["rows_unusual"], done.json()["rows_unusual"]) == (0, 0)
    assert done.json()["results_url"] == body["results_url"] and done.json()["finished_at"]
    assert results.status_code == 200 and results["Content-Type"] == "text/csv; charset=utf-8"
    assert results["Content-Disposition"] == 'attachment; filename="class-predictions.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert [(row["row"], row["external_id"], row["setup"]) for row in rows] == [("1", "S-1", "A"), ("2", "S-1", "")]
    assert rows[1]["errors"] == "age: must be an integer from 15 to 22"
    assert Prediction.objects.get().api_key_prefix == client.api_key.prefix


def test_the_status_counts_the_unusual_records_and_the_results_mark_them(
    api_client, broker, active_version, record, odd_record
):
    client = api_client("predict", "read")
    body = upload(client, csv_text([record, odd_record, odd_record]).encode()).json()
    run(body["id"])

    status = client.get(body["status_url"]).json()
    results = client.get(body["results_url"])

    assert (status["rows_done"], status["rows_failed"], status["rows_unusual"]) == (3, 0, 2)
    rows = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert [row["unusual"] for row in rows] == ["false", "true", "true"]
    assert rows[0]["unusual_reasons"] == "" and rows[1]["unusual_reasons"].startswith("age: 22 (")


def test_the_results_of_a_running_job_answer_409_in_json_even_when_csv_is_asked_for(api_client, broker, small_file):
    client = api_client()
    body = upload(client, small_file).json()

    response = client.get(body["results_url"], HTTP_ACCEPT="text/csv")

    assert refused(response, 409, "conflict") == {}
    assert response.json()["message"] == ("The batch job is queued (0 of 2 rows done): its results are ready when "
                                          "its status is done.")


def test_a_failed_job_has_no_results_and_says_why(api_client, broker, small_file):
    client = api_client()
    body = upload(client, small_file).json()
    run(body["id"])  # no active model

    status = client.get(body["status_url"]).json()

    assert status["status"] == "failed" and status["error"].startswith("No model version is active")
    refused(client.get(body["results_url"]), 409, "conflict")


def test_the_uci_file_as_published_is_accepted(api_client, broker):
    response = upload(api_client("predict"), UCI_FILE.read_bytes(), name="student-mat.csv")

    assert response.status_code == 202 and response.json()["rows_total"] == 395


def test_a_bad_file_answers_400_naming_file_and_nothing_is_saved(api_client, broker, record):
    data = csv_text([record], extra={"nickname": "Ana"}).encode()

    fields = refused(upload(api_client("predict"), data), 400, "invalid")

    assert fields == {"file": ["has unknown columns: nickname"]}
    assert not BatchJob.objects.exists() and broker.sent == []


def test_an_upload_without_the_file_field_answers_400(api_client, broker):
    response = api_client("predict").post(BATCHES, {"document": "x"}, format="multipart")

    assert refused(response, 400, "invalid") == {"file": ["is required"]}


def test_json_instead_of_multipart_answers_415(api_client, broker):
    refused(api_client("predict").post(BATCHES, {"file": "a,b"}, format="json"), 415, "unsupported_media_type")


def test_a_file_over_the_batch_limit_answers_413_and_nothing_is_saved(api_client, broker, settings, record):
    data = csv_text([record] * 30).encode()
    settings.BATCH_MAX_BYTES = len(data) - 1

    fields = refused(upload(api_client("predict"), data), 413, "too_large")

    assert fields["file"] == [f"is {len(data) / 1024:.1f} KB; at most {(len(data) - 1) / 1024:.1f} KB are accepted "
                              "(split it into several files)"]
    assert not BatchJob.objects.exists()


def test_a_body_declared_far_over_the_limit_is_refused_before_it_is_read(api_client, broker, settings, record):
    settings.BATCH_MAX_BYTES = 1000

    response = upload(api_client("predict"), csv_text([record] * 1000).encode())  # about 130 KB

    reason = refused(response, 413, "too_large")["file"][0]
    assert reason.endswith("at most 1.0 KB are accepted (split it into several files)")


def test_a_file_over_the_json_body_limit_but_under_the_batch_limit_is_accepted(api_client, broker, settings, record):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # API_MAX_BODY_BYTES: JSON bodies only
    data = csv_text([record] * 100).encode()

    response = upload(api_client("predict"), data)

    assert len(data) > 10_000 and response.status_code == 202, response.content


def test_the_broker_down_answers_503_with_a_clear_message_and_saves_nothing(api_client, broker, small_file):
    broker.up = False

    response = upload(api_client("predict"), small_file)

    assert refused(response, 503, "unavailable") == {}
    assert response.json()["message"] == BROKER_DOWN
    assert not BatchJob.objects.exists()


# --- who may do what ------------------------------------------------------------------------------------------


def test_a_key_needs_the_predict_scope_to_upload_and_read_to_follow(api_client, broker, small_file):
    refused(upload(api_client("read", "write"), small_file), 403, "forbidden")
    job_id = upload(api_client("predict"), small_file).json()["id"]

    refused(api_client("predict").get(f"{BATCHES}/{job_id}"), 403, "forbidden")
    refused(api_client("predict").get(f"{BATCHES}/{job_id}/results"), 403, "forbidden")
    assert api_client("read").get(f"{BATCHES}/{job_id}").status_code == 200


def test_an_api_key_sees_jobs_uploaded_by_people(api_client, broker, signed_in, user, small_file):
    job_id = upload(signed_in(user), small_file).json()["id"]

    assert api_client("read").get(f"{BATCHES}/{job_id}").json()["id"] == job_id


def test_a_teacher_sees_their_own_jobs_only(broker, signed_in, make_user, user, small_file):
    teacher = signed_in(user)
    colleague = signed_in(make_user("colleague"))
    response = upload(teacher, small_file)
    job_id = response.json()["id"]

    assert response.status_code == 202 and BatchJob.objects.get().created_by == user
    assert teacher.get(f"{BATCHES}/{job_id}").status_code == 200
    refused(colleague.get(f"{BATCHES}/{job_id}"), 404, "not_found")
    refused(colleague.get(f"{BATCHES}/{job_id}/results"), 404, "not_found")


def test_a_model_admin_sees_every_job_but_cannot_upload(broker, signed_in, user, model_admin, small_file):
    job_id = upload(signed_in(user), small_file).json()["id"]
    admin = signed_in(model_admin)

    assert admin.get(f"{BATCHES}/{job_id}").status_code == 200
    refused(upload(admin, small_file), 403, "forbidden")


def test_an_account_without_a_role_can_do_nothing_and_anonymous_callers_must_authenticate(
    broker, signed_in, make_user, small_file
):
    nobody = signed_in(make_user("nobody", None))

    refused(upload(nobody, small_file), 403, "forbidden")
    refused(nobody.get(f"{BATCHES}/{uuid.uuid4()}"), 403, "forbidden")
    refused(upload(APIClient(), small_file), 401, "unauthenticated")
    assert not BatchJob.objects.exists()


def test_an_unknown_job_answers_404(api_client):
    refused(api_client().get(f"{BATCHES}/{uuid.uuid4()}"), 404, "not_found")


def test_save_students_makes_the_teachers_class_and_the_status_counts_it(
    broker, signed_in, user, active_version, record
):
    data = csv_text([dict(record, external_id="S-1"), dict(record, external_id="")]).encode()
    client = signed_in(user)

    body = upload(client, data, data_extra={"save_students": "true"}).json()
    run(body["id"])
    status = client.get(body["status_url"]).json()
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(body["results_url"]).streaming_content).decode())))

    assert status["students"] == {"created": 1, "updated": 0, "no_id": 1, "not_allowed": 0}
    assert [row["student"] for row in rows] == ["added", "not saved: no external_id"]
    student = Student.objects.get()
    assert (student.external_id, student.teacher) == ("S-1", user)
    listed = client.get("/api/v1/students").json()
    assert [item["external_id"] for item in listed["results"]] == ["S-1"]


def test_without_save_students_an_upload_saves_no_student_and_its_status_says_null(
    api_client, broker, small_file, active_version
):
    client = api_client("predict", "read", "write")
    body = upload(client, small_file).json()
    run(body["id"])

    assert client.get(body["status_url"]).json()["students"] is None
    assert not Student.objects.exists()


def test_save_students_needs_the_write_scope_and_a_role_that_adds_students(
    api_client, broker, signed_in, model_admin, small_file
):
    fields = refused(upload(api_client("predict"), small_file, data_extra={"save_students": "true"}), 403, "forbidden")
    assert "save_students" in fields
    # A model admin may not upload at all; the role check answers first.
    refused(upload(signed_in(model_admin), small_file, data_extra={"save_students": "true"}), 403, "forbidden")
    refused(upload(api_client("predict"), small_file, data_extra={"save_students": "maybe"}), 400, "invalid")
    assert not BatchJob.objects.exists()


def test_an_empty_cell_of_a_sensitive_attribute_is_unknown_and_the_class_keeps_it_unknown(
    broker, signed_in, user, active_version, record
):
    data = csv_text([
        dict(record, external_id="S-1", romantic=None, Dalc=None, Walc=None),
        dict(record, external_id="S-2", age=None),  # age is not one a teacher may leave unknown
    ]).encode()
    client = signed_in(user)

    body = upload(client, data, data_extra={"save_students": "true"}).json()
    run(body["id"])
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(body["results_url"]).streaming_content).decode())))

    assert rows[0]["errors"] == "" and rows[0]["predicted_grade"] and rows[0]["student"] == "added"
    assert rows[1]["errors"] == "age: is required" and rows[1]["predicted_grade"] == ""
    student = Student.objects.get()
    assert (student.romantic, student.Dalc, student.Walc, student.goout) == (None, None, None, record["goout"])
    prediction = Prediction.objects.get(student=student)
    assert prediction.unknown_attributes == ["romantic", "Dalc", "Walc"]
