"""CSV batch predictions end to end: uploads through the API and the web page, processed by a real Celery worker
on a real Redis; a worker killed mid-job; Redis down."""
from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from predictions.batches.services import BROKER_DOWN, batch_jobs_resume_stale
from predictions.models import BatchChunk, BatchJob, BatchRow, Prediction

from tests.integration.helpers import wait_for
from tests.predictions.batches.support import UCI_FILE

pytestmark = pytest.mark.django_db(transaction=True)
BATCHES = "/api/v1/batches"


def uci_rows() -> list[dict]:
    return list(csv.DictReader(UCI_FILE.open(encoding="utf-8"), delimiter=";"))


def class_file(count: int, *, bad_every: int = 0) -> bytes:
    """`count` students taken in turn from the UCI data, comma-separated with an external_id; every
    `bad_every`-th one with an impossible age."""
    source = uci_rows()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["external_id", *source[0]], lineterminator="\n")
    writer.writeheader()
    for number in range(1, count + 1):
        row = dict(source[(number - 1) % len(source)], external_id=f"S-{number:05d}")
        if bad_every and number % bad_every == 0:
            row["age"] = "99"
        writer.writerow(row)
    return out.getvalue().encode()


def upload(client, data: bytes, name: str = "class.csv", **headers) -> dict:
    response = client.post(BATCHES, {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
                           format="multipart", **headers)
    assert response.status_code == 202, response.content
    return response.json()


def finished(client, status_url: str, timeout: float = 120) -> dict:
    def job_finished():
        status = client.get(status_url).json()
        return status if status["status"] in ("done", "failed") else None

    return wait_for(job_finished, timeout=timeout, interval=0.25, message="the batch job to finish")


def result_rows(client, results_url: str) -> list[dict]:
    response = client.get(results_url)
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def exactly_once(job: BatchJob, *, valid: int) -> None:
    """One BatchRow per input row, one audit row per valid input row, each chunk committed once."""
    assert BatchRow.objects.filter(job=job).count() == job.rows_total
    assert sorted(BatchRow.objects.filter(job=job).values_list("row_number", flat=True)) == list(
        range(1, job.rows_total + 1)
    )
    assert Prediction.objects.filter(source="batch", batch_row__job=job).count() == valid
    assert Prediction.objects.filter(source="batch", batch_row__isnull=True).count() == 0
    assert BatchChunk.objects.filter(job=job).count() == -(-job.rows_total // job.chunk_size)


def test_a_1000_row_upload_finishes_with_1000_result_rows(celery_worker, active_version, api_client):
    client = api_client("predict", "read")

    created = upload(client, class_file(1000))
    status = finished(client, created["status_url"])
    rows = result_rows(client, created["results_url"])

    assert status["status"] == "done", (status, celery_worker.log()[-3000:])
    assert (status["rows_total"], status["rows_done"], status["rows_failed"]) == (1000, 1000, 0)
    assert len(rows) == 1000 and [row["row"] for row in rows] == [str(n) for n in range(1, 1001)]
    assert rows[999]["external_id"] == "S-01000" and all(row["predicted_grade"] for row in rows)
    exactly_once(BatchJob.objects.get(pk=created["id"]), valid=1000)


def test_a_file_with_some_bad_rows_scores_every_good_row(celery_worker, active_version, api_client):
    client = api_client("predict", "read")

    created = upload(client, class_file(60, bad_every=10), HTTP_X_REQUEST_ID="req-upload-60")
    status = finished(client, created["status_url"])
    rows = result_rows(client, created["results_url"])

    assert (status["status"], status["rows_done"], status["rows_failed"]) == ("done", 60, 6)
    # The worker ran the job with the upload's request id: in its audit rows and its log lines.
    assert set(Prediction.objects.filter(batch_row__job_id=created["id"]).values_list("request_id", flat=True)) == {
        "req-upload-60"
    }
    assert '"request_id": "req-upload-60", "message": "batch job started"' in celery_worker.log()
    rejected = [row for row in rows if row["errors"]]
    assert [row["external_id"] for row in rejected] == [f"S-{n:05d}" for n in range(10, 61, 10)]
    assert all(row["errors"] == "age: must be an integer from 15 to 22" and not row["predicted_grade"]
               for row in rejected)
    exactly_once(BatchJob.objects.get(pk=created["id"]), valid=54)


def test_the_uci_file_as_published_uploaded_on_the_web_page(celery_worker, active_version, roles, make_user):
    teacher = make_user("teacher")
    client = Client()
    client.force_login(teacher)

    response = client.post("/batches/new/", {"file": SimpleUploadedFile("student-mat.csv", UCI_FILE.read_bytes())})
    job = BatchJob.objects.get()
    status = finished(client, f"/batches/{job.pk}/status.json")
    page = client.get(f"/batches/{job.pk}/").content.decode()
    download = client.get(f"/batches/{job.pk}/results.csv")

    assert response.status_code == 302 and response["Location"] == f"/batches/{job.pk}/"
    assert status == {"status": "done", "rows_total": 395, "rows_done": 395, "rows_failed": 0, "percent": 100,
                      "finished": True}
    assert "<dt>Predicted</dt><dd>395</dd>" in page
    assert len(b"".join(download.streaming_content).decode().splitlines()) == 396
    job.refresh_from_db()
    exactly_once(job, valid=395)
    grades = list(BatchRow.objects.filter(job=job).order_by("row_number").values_list("final_grade", flat=True))
    assert grades == [int(row["G3"]) for row in uci_rows()]
    assert set(Prediction.objects.values_list("requested_by", flat=True)) == {teacher.pk}


def test_a_worker_killed_mid_job_resumes_without_duplicates_or_gaps(
    celery_worker, active_version, api_client, settings
):
    settings.BATCH_CHUNK_SIZE = 50  # many small chunks: the job runs for seconds, and is killed in the middle
    client = api_client("predict", "read")
    created = upload(client, class_file(6000, bad_every=100))
    job = BatchJob.objects.get(pk=created["id"])

    def midway():
        job.refresh_from_db()
        assert job.status != "done", "the job finished before the worker could be killed"
        return 0 < job.rows_done < job.rows_total

    wait_for(midway, timeout=60, interval=0.02, message="the job to be part done")
    celery_worker.kill()
    job.refresh_from_db()
    done_at_kill = job.rows_done
    assert job.status == "running" and 0 < done_at_kill < 6000
    # What a killed worker leaves is consistent: whole chunks, their rows and audit rows together.
    assert BatchRow.objects.filter(job=job).count() == done_at_kill
    assert BatchChunk.objects.filter(job=job).count() * 50 == done_at_kill

    # Redis hands the unacknowledged message out again after its visibility timeout; beat's resume task also
    # queues the job once its heartbeat is stale. Both happen here: the second run finds nothing left to do.
    settings.BATCH_STALE_SECONDS = 0
    assert batch_jobs_resume_stale() == [str(job.pk)]
    celery_worker.start()
    status = finished(client, created["status_url"], timeout=180)

    assert status["status"] == "done", (status, celery_worker.log()[-3000:])
    assert (status["rows_done"], status["rows_failed"]) == (6000, 60)
    job.refresh_from_db()
    assert job.attempts >= 2
    exactly_once(job, valid=5940)
    assert len(result_rows(client, created["results_url"])) == 6000


def test_with_redis_down_an_upload_answers_503_and_single_predictions_still_work(
    celery_worker, redis_server, active_version, api_client, record
):
    client = api_client("predict", "read")
    redis_server.stop()
    try:
        response = client.post(BATCHES, {"file": SimpleUploadedFile("class.csv", class_file(10))},
                               format="multipart")
        single = client.post("/api/v1/predict", record, format="json")
    finally:
        redis_server.start()

    assert response.status_code == 503, response.content
    assert response.json() == {
        "error": "unavailable", "message": BROKER_DOWN, "fields": {}, "request_id": response["X-Request-ID"]
    }
    assert not BatchJob.objects.exists() and not BatchRow.objects.exists()
    assert single.status_code == 200 and single.json()["predicted_grade"] >= 0
    assert Prediction.objects.get().source == "api"
