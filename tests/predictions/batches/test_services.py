"""Batch jobs run in-process (the broker faked): create, process chunk by chunk, resume, results."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modelstore.selectors import NO_ACTIVE_VERSION
from predictions.batches import services as batches
from predictions.batches.files import batch_file_chunks
from predictions.batches.results import RESULTS_HEADER, batch_results_csv
from predictions.batches.selectors import batch_job_summary, batch_row_unusual_list
from predictions.batches.services import BROKER_DOWN, batch_job_create, batch_job_process, batch_jobs_resume_stale
from predictions.models import BatchChunk, BatchJob, BatchRow, Prediction
from predictions.services import predictions_serve
from studentperf.errors import ApplicationError

from tests.predictions.batches.support import UCI_FILE, broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def create(broker, user, django_capture_on_commit_callbacks):
    """create(data, **fields) -> a job made by the teacher `user`, its task "sent" once committed."""

    def make(data: bytes, **fields) -> BatchJob:
        with django_capture_on_commit_callbacks(execute=True):
            return batch_job_create(
                data=data, file_name=fields.pop("file_name", "class.csv"), source=fields.pop("source", "web"),
                user=fields.pop("user", user), **fields,
            )

    return make


@pytest.fixture
def chunks_of_batch_chunk_size(monkeypatch):
    """Every job's chunks as large as BATCH_CHUNK_SIZE allows, whatever the file's size (no smaller chunks for
    the progress bar): what these tests count in."""
    monkeypatch.setattr(batches, "batch_chunk_size", lambda *, rows_total, largest: largest)


def run(job: BatchJob) -> BatchJob:
    batch_job_process(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def results(job: BatchJob) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(batch_results_csv(job=job)))))


def serving_until(call: int, error: Exception):
    """predictions_serve as it is, but raising `error` at its `call`-th call; `.calls` lists each chunk's size."""

    def serve(**kwargs):
        serve.calls.append(len(kwargs["records"]))
        if len(serve.calls) == call:
            raise error
        return predictions_serve(**kwargs)

    serve.calls = []
    return serve


def one_audit_row_per_valid_input_row(job: BatchJob, valid: int) -> None:
    rows = BatchRow.objects.filter(job=job)
    assert rows.count() == job.rows_total
    assert rows.filter(prediction__isnull=False).count() == valid
    assert Prediction.objects.filter(source="batch").count() == valid
    assert Prediction.objects.filter(batch_row__isnull=True).count() == 0


def test_the_uci_file_as_published_is_queued_and_all_395_rows_are_predicted(create, broker, user, active_version):
    data = UCI_FILE.read_bytes()

    job = create(data, file_name="student-mat.csv")

    assert broker.sent == [str(job.pk)]
    # 20 chunks of 20 rows, so that the progress moves (batch_chunk_size), though BATCH_CHUNK_SIZE allows 1000.
    assert (job.status, job.rows_total, job.rows_done, job.chunk_size, job.source) == ("queued", 395, 0, 20, "web")
    assert bytes(job.input_data) == data and len(job.input_sha256) == 64
    job = run(job)
    assert (job.status, job.rows_done, job.rows_failed, job.attempts, job.error) == ("done", 395, 0, 1, "")
    assert job.started_at <= job.finished_at
    one_audit_row_per_valid_input_row(job, 395)
    prediction = Prediction.objects.get(batch_row__row_number=1, batch_row__job=job)
    assert (prediction.source, prediction.requested_by, prediction.model_version) == ("batch", user, active_version)
    assert (prediction.setup, prediction.input["G1"], prediction.input["G2"]) == ("A", 5, 6)


def test_g3_from_the_file_is_kept_on_each_row(create, active_version):
    job = run(create(UCI_FILE.read_bytes()))

    grades = list(BatchRow.objects.filter(job=job).order_by("row_number").values_list("final_grade", flat=True))

    expected = [int(row["G3"]) for row in csv.DictReader(UCI_FILE.open(), delimiter=";")]
    assert grades == expected


def test_a_bad_row_is_reported_with_its_reason_and_every_good_row_is_still_scored(create, active_version, record):
    records = [dict(record, G3=6), dict(record, age="99", G3=6), dict(record, G1=None, G2=None, G3=""),
               dict(record, G3="abc")]
    data = csv_text(records, extra={"external_id": "S"}).encode()

    job = run(create(data))

    assert (job.status, job.rows_total, job.rows_done, job.rows_failed) == ("done", 4, 4, 2)
    one_audit_row_per_valid_input_row(job, 2)
    rows = results(job)
    assert [row["row"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[1]["errors"] == "age: must be an integer from 15 to 22" and rows[1]["predicted_grade"] == ""
    assert rows[3]["errors"] == "G3: must be an integer from 0 to 20"
    assert rows[0]["errors"] == "" and rows[0]["setup"] == "A" and rows[2]["setup"] == "C"
    assert BatchRow.objects.get(job=job, row_number=2).errors == {"age": ["must be an integer from 15 to 22"]}


def test_the_results_file_has_the_documented_columns_and_values(create, active_version, record):
    job = run(create(csv_text([record], extra={"external_id": "2024-017"}).encode()))

    [row] = results(job)

    assert tuple(row) == RESULTS_HEADER == (
        "row", "external_id", "predicted_grade", "pass_probability", "risk", "interval_low", "interval_high",
        "setup", "unusual", "unusual_reasons", "student", "errors",
    )
    prediction = Prediction.objects.get()
    assert row == {
        "row": "1", "external_id": "2024-017", "predicted_grade": str(prediction.predicted_grade),
        "pass_probability": str(prediction.pass_probability), "risk": prediction.risk,
        "interval_low": str(prediction.interval_low), "interval_high": str(prediction.interval_high),
        "setup": "A", "unusual": "false", "unusual_reasons": "", "student": "", "errors": "",
    }


def test_the_results_and_the_summary_mark_and_count_the_unusual_records(create, active_version, record, odd_record):
    records = [record, odd_record, dict(record, age="99"), dict(odd_record, G2=None)]
    job = run(create(csv_text(records).encode()))

    rows = results(job)

    odd = [Prediction.objects.get(batch_row__job=job, batch_row__row_number=number) for number in (2, 4)]
    assert [prediction.unusual for prediction in odd] == [True, True]
    assert [row["unusual"] for row in rows] == ["false", "true", "", "true"]
    assert [row["unusual_reasons"] for row in rows] == [
        "", "; ".join(odd[0].unusual_reasons), "", "; ".join(odd[1].unusual_reasons)
    ]
    assert rows[1]["unusual_reasons"].startswith("age: 22 (only 1 of the 395 students") and rows[2]["errors"]
    summary = batch_job_summary(job=job)
    assert (summary["predicted"], summary["rejected"], summary["unusual"]) == (3, 1, 2)
    assert [row.row_number for row in batch_row_unusual_list(job=job)] == [2, 4]


def test_a_prediction_older_than_the_check_leaves_the_unusual_columns_empty(
    create, active_version, record, monkeypatch
):
    import predictions.services as services

    real = services.predict_records

    def before_the_check(*args, **kwargs):
        return [dict(output, unusual=None, unusual_reasons=[]) for output in real(*args, **kwargs)]

    monkeypatch.setattr(services, "predict_records", before_the_check)
    job = run(create(csv_text([record]).encode()))

    [row] = results(job)

    assert (row["unusual"], row["unusual_reasons"], row["errors"]) == ("", "", "")
    assert batch_job_summary(job=job)["unusual"] == 0


def test_an_external_id_that_a_spreadsheet_would_run_as_a_formula_is_written_as_text(create, active_version, record):
    job = run(create(csv_text([dict(record, external_id="=HYPERLINK(1)"), dict(record, external_id="A-1")]).encode()))

    assert [row["external_id"] for row in results(job)] == ["'=HYPERLINK(1)", "A-1"]
    assert BatchRow.objects.get(row_number=1).external_id == "=HYPERLINK(1)"


def test_a_rejected_row_lists_each_reason_as_field_colon_reason(create, active_version, record):
    job = run(create(csv_text([dict(record, age="99", sex="X")]).encode()))

    [row] = results(job)

    assert row["errors"] == "sex: must be one of F, M; age: must be an integer from 15 to 22"


def test_nothing_is_saved_when_the_broker_is_down(create, broker, record):
    broker.up = False

    with pytest.raises(ApplicationError) as caught:
        create(csv_text([record]).encode())

    assert (caught.value.kind, caught.value.message) == ("unavailable", BROKER_DOWN)
    assert not BatchJob.objects.exists() and broker.sent == []


def test_a_bad_file_is_refused_before_anything_is_saved(create, broker, record):
    with pytest.raises(ApplicationError) as caught:
        create(csv_text([{name: value for name, value in record.items() if name != "age"}]).encode())

    assert caught.value.fields == {"file": ["misses required columns: age"]}
    assert not BatchJob.objects.exists() and broker.sent == []


def test_a_broker_lost_after_the_check_leaves_the_job_queued_for_resumption(create, broker, monkeypatch, record):
    from predictions import tasks

    def refuse(job_id):
        raise OSError("Connection refused")

    monkeypatch.setattr(tasks.batch_job_process, "delay", refuse)

    job = create(csv_text([record]).encode())

    assert BatchJob.objects.get().status == "queued" and job.pk


def test_a_job_run_twice_writes_its_rows_once(create, active_version):
    job = run(create(UCI_FILE.read_bytes()))

    run(job)  # a duplicate message of a finished job
    BatchJob.objects.filter(pk=job.pk).update(status="running")  # a redelivery after a crash before the ack
    job = run(job)

    assert job.status == "done" and job.rows_done == 395
    one_audit_row_per_valid_input_row(job, 395)


def test_a_job_interrupted_after_two_chunks_resumes_without_duplicates_or_gaps(
    create, active_version, settings, monkeypatch, chunks_of_batch_chunk_size
):
    settings.BATCH_CHUNK_SIZE = 100
    job = create(UCI_FILE.read_bytes())
    serve = serving_until(3, OperationalError("database is locked"))  # a transient error: the task retries
    monkeypatch.setattr(batches, "predictions_serve", serve)

    with pytest.raises(OperationalError):
        batch_job_process(job_id=str(job.pk))

    job.refresh_from_db()
    assert (job.status, job.rows_done, job.attempts) == ("running", 200, 1)
    assert Prediction.objects.count() == 200 and BatchChunk.objects.filter(job=job).count() == 2
    job = run(job)
    assert (job.status, job.rows_done, job.attempts) == ("done", 395, 2)
    assert serve.calls == [100, 100, 100, 100, 95]  # the crash in chunk 2, then chunks 2 and 3 only
    one_audit_row_per_valid_input_row(job, 395)
    assert list(BatchChunk.objects.filter(job=job).values_list("index", flat=True)) == [0, 1, 2, 3]


def test_a_chunk_another_worker_committed_is_skipped_whole(create, active_version, record):
    job = create(csv_text([record] * 3).encode())
    [chunk] = batch_file_chunks(bytes(job.input_data), size=job.chunk_size)

    batches._chunk_process(job, chunk)
    batches._chunk_process(job, chunk)  # a second worker on the same chunk

    job.refresh_from_db()
    assert job.rows_done == 3
    one_audit_row_per_valid_input_row(job, 3)


def test_an_unexpected_error_fails_the_job_with_its_reason_keeping_the_chunks_done(
    create, active_version, settings, monkeypatch, chunks_of_batch_chunk_size
):
    settings.BATCH_CHUNK_SIZE = 300
    job = create(UCI_FILE.read_bytes())
    monkeypatch.setattr(batches, "predictions_serve", serving_until(2, ValueError("the pipeline broke")))

    job = run(job)

    assert (job.status, job.error) == ("failed", "Unexpected error: ValueError: the pipeline broke")
    assert job.rows_done == 300 and job.finished_at is not None
    assert Prediction.objects.count() == 300


def test_without_an_active_model_the_job_fails_saying_so(create, record):
    job = run(create(csv_text([record]).encode()))

    assert (job.status, job.error, job.rows_done) == ("failed", NO_ACTIVE_VERSION, 0)
    assert not BatchRow.objects.exists()


def test_a_job_that_keeps_losing_its_worker_fails_after_the_attempt_limit(create, active_version, settings, record):
    settings.BATCH_MAX_ATTEMPTS = 3
    job = create(csv_text([record]).encode())
    BatchJob.objects.filter(pk=job.pk).update(status="running", attempts=3)

    job = run(job)

    assert job.status == "failed" and job.error.startswith("Stopped after 3 attempts")
    assert not Prediction.objects.exists()


def test_a_stored_file_that_changed_fails_the_job(create, active_version, record):
    job = create(csv_text([record]).encode())
    BatchJob.objects.filter(pk=job.pk).update(input_data=csv_text([record] * 2).encode())

    job = run(job)

    assert (job.status, job.error) == ("failed", "The stored file does not match its checksum; upload it again.")


def test_a_chunk_is_one_model_call_and_a_fixed_number_of_queries_whatever_its_size(
    create, active_version, monkeypatch, record, chunks_of_batch_chunk_size
):
    import predictions.services as services

    calls = []
    real = services.predict_records
    monkeypatch.setattr(services, "predict_records", lambda *a, **k: calls.append(1) or real(*a, **k))
    small = create(csv_text([record] * 2).encode())
    large = create(csv_text([record, dict(record, G2=None), dict(record, G1=None, G2=None)] * 300).encode())

    with CaptureQueriesContext(connection) as few:
        run(small)
    with CaptureQueriesContext(connection) as many:
        run(large)

    assert calls == [1, 1]  # predict_records makes one pipeline call per setup present
    # The inserts are one statement each (executemany) however many rows: a handful of queries in all.
    assert len(few.captured_queries) < 20 and len(many.captured_queries) < 60


def test_stale_jobs_are_queued_again_once(create, broker, record, settings):
    settings.BATCH_STALE_SECONDS = 120
    now = timezone.now()
    lost_message, fresh, lost_worker, alive, finished = (create(csv_text([record]).encode()) for _ in range(5))
    BatchJob.objects.filter(pk=lost_message.pk).update(updated_at=now - timedelta(minutes=2))
    BatchJob.objects.filter(pk=lost_worker.pk).update(status="running", updated_at=now - timedelta(seconds=121))
    BatchJob.objects.filter(pk=alive.pk).update(status="running", updated_at=now - timedelta(seconds=30))
    BatchJob.objects.filter(pk=finished.pk).update(status="done", updated_at=now - timedelta(hours=1))
    broker.sent.clear()

    first = batch_jobs_resume_stale(now=now)
    second = batch_jobs_resume_stale(now=now)

    assert sorted(first) == sorted([str(lost_message.pk), str(lost_worker.pk)]) and second == []
    assert sorted(broker.sent) == sorted(first)
    assert fresh.pk and BatchJob.objects.get(pk=lost_worker.pk).status == "running"


def test_a_resumed_job_picks_up_where_it_stopped(create, broker, active_version, settings, monkeypatch):
    settings.BATCH_CHUNK_SIZE = 200
    job = create(UCI_FILE.read_bytes())
    monkeypatch.setattr(batches, "predictions_serve", serving_until(2, OperationalError("connection lost")))
    with pytest.raises(OperationalError):
        run(job)
    monkeypatch.undo()
    BatchJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    [job_id] = batch_jobs_resume_stale()
    job = run(BatchJob.objects.get(pk=job_id))

    assert (job.status, job.rows_done, job.attempts) == ("done", 395, 2)
    one_audit_row_per_valid_input_row(job, 395)


@pytest.mark.parametrize("external_id", ["A\rB", "A\nB", "A\r\nB", "A\r"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_line_break_inside_a_quoted_cell_stays_in_its_row_in_and_out(
    broker, user, active_version, record, external_id, line_end
):
    # Issue 18, attack 6: a bare CR inside a quoted external_id made the results file show one row predicted
    # with an empty id plus a bogus rejected one.
    names = [*record, "external_id"]

    def line(ext: str) -> str:
        return ",".join(["" if record[name] is None else str(record[name]) for name in record] + [f'"{ext}"'])
    data = line_end.join([",".join(names), line(external_id), *(line(f"s{n}") for n in range(10))]) + line_end

    job = batch_job_create(data=data.encode(), file_name="c.csv", source="web", user=user)
    batch_job_process(job_id=str(job.pk))
    job.refresh_from_db()

    assert job.rows_total == 11
    rows = list(csv.DictReader(io.StringIO("".join(batch_results_csv(job=job)), newline="")))
    assert len(rows) == 11 and rows[0]["external_id"] == external_id.strip() and rows[0]["errors"] == ""
    assert all(row["predicted_grade"] for row in rows)


def test_a_resumed_job_keeps_the_uploads_request_id_on_every_chunks_audit_rows(broker, user, active_version, record):
    # Issue 18, attack 10: chunks done by a resumed job (queued by beat, outside any request) lost the id.
    from studentperf.observability import request_id_bound, request_id_get

    data = csv_text([dict(record, absences=n) for n in range(40)]).encode()
    with request_id_bound("req-upload-0042"):
        job = batch_job_create(data=data, file_name="c.csv", source="web", user=user)
    chunks = list(batch_file_chunks(data, size=job.chunk_size))
    assert job.request_id == "req-upload-0042" and len(chunks) > 1
    # The first chunk done under the upload's id, then the worker dies; the rest is resumed with no id bound.
    with request_id_bound("req-upload-0042"):
        batches._chunk_process(job, chunks[0])
    assert request_id_get() == ""

    batch_job_process(job_id=str(job.pk))

    ids = set(Prediction.objects.filter(batch_row__job=job).values_list("request_id", flat=True))
    assert ids == {"req-upload-0042"} and Prediction.objects.filter(batch_row__job=job).count() == 40
    assert request_id_get() == ""  # the worker's own context is left as it was
