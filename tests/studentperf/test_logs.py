"""The JSON log lines: one access line per request, one line per prediction (never personal data), one error
line per request answered with an error, typed; and the optional rotated file, shared by several processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from predictions.batches.services import batch_job_process
from predictions.models import BatchJob, Prediction, Student
from predictions.services import prediction_create, prediction_create_many
from studentperf.observability import ERROR_TYPES

from .log_capture import log_lines  # noqa: F401 (fixture)
from .test_settings import GOOD_KEY, GOOD_SECRET
from tests.predictions.batches.support import broker, csv_text  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PREDICT = "/api/v1/predict"
ACCESS_FIELDS = {
    "asctime", "levelname", "name", "request_id", "message", "method", "path", "status", "latency_ms", "user",
    "api_key", "client", "endpoint",
}
PREDICTION_FIELDS = {
    "asctime", "levelname", "name", "request_id", "message", "prediction_id", "model_version", "setup", "source",
    "predicted_grade", "pass_probability", "confidence", "risk", "interval_low", "interval_high", "unusual",
    "latency_ms",
}
# A student's id and a teacher's names that must never reach a log line.
MARKER = "S-7f3a-Marie-Curie"
NAME_LIKE = ("Marie", "Curie", "marie.curie@example.org")


def error_line(log_lines) -> dict:
    line = log_lines.one("studentperf.errors", "request error")
    assert line["error_type"] in ERROR_TYPES
    return line


class TestAccessLine:
    def test_an_api_key_request_names_the_key_never_its_secret_nor_the_query(self, make_api_key, log_lines):
        api_key, key = make_api_key(name="school-sis", scopes=["read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

        response = client.get("/api/v1/students?external_id=S-secret-123", HTTP_X_REQUEST_ID="req-access-1")

        assert response.status_code == 200
        line = log_lines.one("studentperf.access")
        assert set(line) == ACCESS_FIELDS
        assert (line["message"], line["levelname"], line["request_id"]) == ("request", "INFO", "req-access-1")
        assert (line["method"], line["path"], line["status"], line["endpoint"]) == (
            "GET", "/api/v1/students", 200, "api/v1/students"
        )
        assert (line["user"], line["api_key"], line["client"]) == (None, "school-sis", "127.0.0.1")
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
        assert key.split(".")[1] not in log_lines.text and api_key.prefix not in log_lines.text
        assert "S-secret-123" not in log_lines.text

    def test_a_page_names_the_user_and_its_route(self, client, user, log_lines):
        client.force_login(user)

        client.get("/students/0/")
        client.get("/?q=S-secret-456")
        client.get("/no-such-page/")

        lines = log_lines.named("studentperf.access")
        assert [(line["endpoint"], line["status"], line["user"]) for line in lines] == [
            ("students/<int:pk>/", 404, "teacher"), ("/", 200, "teacher"), ("unmatched", 404, "teacher"),
        ]
        assert lines[1]["path"] == "/" and "S-secret-456" not in log_lines.text
        assert log_lines.named("studentperf.errors") == []  # a 404 is an answer, not an error of a type


# A prediction is logged once its audit row is committed: real transactions, as in production.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("roles")
class TestPredictionLine:
    def test_one_line_per_prediction_with_its_outputs_and_no_inputs(self, api_client, active_version, record,
                                                                    log_lines):
        response = api_client("predict").post(
            PREDICT, {"instances": [record, dict(record, G2=None)]}, format="json", HTTP_X_REQUEST_ID="req-pred-1"
        )

        assert response.status_code == 200, response.content
        lines = log_lines.named("studentperf.predictions", "prediction")
        rows = {str(row.pk): row for row in Prediction.objects.all()}
        assert len(lines) == 2 and {line["prediction_id"] for line in lines} == set(rows)
        for line in lines:
            row = rows[line["prediction_id"]]
            assert set(line) == PREDICTION_FIELDS
            assert line["model_version"] == active_version.version and line["request_id"] == "req-pred-1"
            assert (line["setup"], line["source"], line["risk"]) == (row.setup, "api", row.risk)
            assert (line["predicted_grade"], line["pass_probability"], line["confidence"]) == (
                row.predicted_grade, row.pass_probability, row.confidence
            )
            assert (line["interval_low"], line["interval_high"]) == (row.interval_low, row.interval_high)
            assert line["latency_ms"] == round(row.latency_ms, 2)
        assert {line["setup"] for line in lines} == {"A", "B"}
        assert [line["unusual"] for line in lines] == [False, False]

    def test_an_unusual_record_is_logged_as_unusual_without_its_reasons(self, api_client, active_version, record,
                                                                         odd_record, settings, log_lines):
        settings.LOG_PREDICTION_INPUTS = True

        response = api_client("predict").post(PREDICT, {"instances": [odd_record, record]}, format="json")

        assert response.status_code == 200, response.content
        odd = Prediction.objects.get(pk=response.json()["predictions"][0]["prediction_id"])
        lines = {line["prediction_id"]: line for line in log_lines.named("studentperf.predictions", "prediction")}
        assert lines[str(odd.pk)]["unusual"] is True and odd.unusual_reasons
        assert all(set(line) == PREDICTION_FIELDS | {"inputs"} for line in lines.values())
        assert not any(reason in log_lines.text for reason in odd.unusual_reasons)
        assert "learned from" not in log_lines.text

    def test_the_inputs_only_when_the_setting_allows_them(self, api_client, active_version, record, settings,
                                                          log_lines):
        settings.LOG_PREDICTION_INPUTS = True

        api_client("predict").post(PREDICT, record, format="json")

        line = log_lines.one("studentperf.predictions", "prediction")
        assert line["inputs"] == Prediction.objects.get().input
        assert line["inputs"]["absences"] == record["absences"] and "external_id" not in line["inputs"]

    def test_a_failure_to_count_a_stored_prediction_does_not_fail_its_request(self, api_client, active_version,
                                                                              record, monkeypatch):
        from predictions import services

        def broken(**kwargs):
            raise RuntimeError("metrics down")

        monkeypatch.setattr(services.metrics, "predictions_observe", broken)
        response = api_client("predict").post(PREDICT, record, format="json")

        assert response.status_code == 200, response.content
        assert Prediction.objects.filter(pk=response.json()["prediction_id"]).exists()

    def test_predictions_rolled_back_are_not_logged_and_committed_ones_at_once(self, active_version, record,
                                                                               log_lines):
        with pytest.raises(RuntimeError), transaction.atomic():
            prediction_create_many(records=[record, record], source=Prediction.Source.BATCH)
            assert log_lines.named("studentperf.predictions", "prediction") == []  # not before the commit
            raise RuntimeError("the chunk fails after predicting")
        assert Prediction.objects.count() == 0 and log_lines.named("studentperf.predictions", "prediction") == []

        with transaction.atomic():
            prediction_create_many(records=[record, record], source=Prediction.Source.BATCH)
        lines = log_lines.named("studentperf.predictions", "prediction")
        assert {line["prediction_id"] for line in lines} == {str(pk) for pk in Prediction.objects.values_list("pk", flat=True)}
        assert len(lines) == 2
        prediction_create(record=record, source=Prediction.Source.API)  # outside a transaction: logged at once
        assert len(log_lines.named("studentperf.predictions", "prediction")) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("roles")  # the role groups again after an earlier test's flush
class TestNoPersonalData:
    @pytest.fixture
    def teacher(self, make_user):
        teacher = make_user("teacher-42")
        teacher.first_name, teacher.last_name, teacher.email = NAME_LIKE
        teacher.save()
        return teacher

    def predict_everywhere(self, *, teacher, record, broker) -> None:
        """A known student through every door: the web forms, the API and a CSV batch."""
        web = Client()
        web.force_login(teacher)
        form = {name: "" if value is None else value for name, value in record.items()}
        assert web.post("/students/new/", {"external_id": MARKER, **form}).status_code == 302
        student = Student.objects.get(external_id=MARKER)
        assert web.post(f"/students/{student.pk}/predict/").status_code == 302
        assert web.post("/predictions/new/", form).status_code == 302
        assert web.get(f"/?q={MARKER}").status_code == 200
        refused = web.post(f"/students/{student.pk}/edit/", {"external_id": MARKER, **form, "age": "99"})
        assert refused.status_code == 200

        api = APIClient()
        api.force_login(teacher)
        assert api.post(PREDICT, dict(record, student_id=student.pk), format="json").status_code == 200
        assert api.post(f"/api/v1/students/{student.pk}/predict").status_code == 200
        created = api.post("/api/v1/students", {**record, "external_id": MARKER + "-2"}, format="json")
        assert created.status_code == 201, created.content
        assert api.get(f"/api/v1/students?external_id={MARKER}").status_code == 200

        batch = csv_text([{"external_id": MARKER + "-3", **record}])
        upload = SimpleUploadedFile("class.csv", batch.encode(), content_type="text/csv")
        assert web.post("/batches/new/", {"file": upload}).status_code == 302
        assert batch_job_process(job_id=BatchJob.objects.get().pk).status == "done"

    def test_no_student_id_nor_name_in_any_line(self, teacher, active_version, record, broker, log_lines):
        self.predict_everywhere(teacher=teacher, record=record, broker=broker)

        assert len(log_lines.named("studentperf.predictions", "prediction")) == Prediction.objects.count() == 6
        assert len(log_lines.all()) > 20  # every line parses as JSON
        for value in (MARKER, *NAME_LIKE):
            assert value not in log_lines.text, value

    def test_nor_with_the_inputs_logged(self, teacher, active_version, record, broker, settings, log_lines):
        settings.LOG_PREDICTION_INPUTS = True

        self.predict_everywhere(teacher=teacher, record=record, broker=broker)

        lines = log_lines.named("studentperf.predictions", "prediction")
        assert len(lines) == 6 and all(line["inputs"]["school"] == record["school"] for line in lines)
        for value in (MARKER, *NAME_LIKE):
            assert value not in log_lines.text, value


class TestErrorLine:
    def test_an_invalid_api_record_names_the_refused_fields_not_their_values(self, api_client, active_version,
                                                                              record, log_lines):
        response = api_client("predict").post(
            PREDICT, {"instances": [record, dict(record, age="Marie-99", Mjob="Curie-job")]}, format="json"
        )

        assert response.status_code == 400
        line = error_line(log_lines)
        assert (line["error_type"], line["status"], line["levelname"], line["endpoint"]) == (
            "validation", 400, "WARNING", "api/v1/predict"
        )
        assert sorted(line["fields"]) == ["1.Mjob", "1.age"] and line["fields_total"] == 2
        assert "Marie-99" not in log_lines.text and "Curie-job" not in log_lines.text

    def test_an_invalid_web_form_names_the_refused_fields(self, client, user, active_version, record, log_lines):
        client.force_login(user)

        response = client.post("/predictions/new/", dict(record, age="Marie-99", G1="", G2=""))

        assert response.status_code == 200
        line = error_line(log_lines)
        assert (line["error_type"], line["status"], line["fields"]) == ("validation", 200, ["age"])
        assert "Marie-99" not in log_lines.text

    def test_a_bad_api_key_is_an_auth_error(self, log_lines):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.0123456789abcdef0123456789abcdef")

        assert client.get("/api/v1/students").status_code == 401
        assert (error_line(log_lines)["error_type"], error_line(log_lines)["status"]) == ("auth", 401)

    def test_a_failed_login_is_an_auth_error_and_logs_nothing_typed(self, user, log_lines):
        response = Client().post("/accounts/login/", {"username": "marie.curie.typed", "password": "Curie-pass-1"})

        assert response.status_code == 200
        assert (error_line(log_lines)["error_type"], log_lines.one("studentperf.access")["user"]) == ("auth", None)
        assert "marie.curie.typed" not in log_lines.text and "Curie-pass-1" not in log_lines.text

    def test_a_teacher_refused_a_page_is_an_auth_error(self, client, user, log_lines):
        client.force_login(user)

        assert client.get("/monitoring/accuracy/").status_code == 403
        assert error_line(log_lines)["error_type"] == "auth"

    def test_over_the_rate_limit_is_throttled(self, api_client, settings, log_lines):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "1/min"}}
        client = api_client("read")

        statuses = [client.get("/api/v1/students").status_code for _ in range(2)]

        assert statuses == [200, 429]
        assert error_line(log_lines)["error_type"] == "throttled"

    def test_no_active_model_is_model_unavailable_in_the_api_and_the_web(self, api_client, client, user, record,
                                                                          log_lines):
        client.force_login(user)

        assert api_client("predict").post(PREDICT, record, format="json").status_code == 503
        assert client.get("/predictions/new/").status_code == 503

        lines = log_lines.named("studentperf.errors")
        assert [(line["error_type"], line["status"], line["levelname"]) for line in lines] == [
            ("model_unavailable", 503, "ERROR"), ("model_unavailable", 503, "ERROR"),
        ]

    def test_the_task_queue_down_is_internal_not_the_model(self, api_client, active_version, record, broker,
                                                            log_lines):
        broker.up = False
        upload = SimpleUploadedFile("class.csv", csv_text([record]).encode(), content_type="text/csv")

        response = api_client("predict").post("/api/v1/batches", {"file": upload}, format="multipart")

        assert response.status_code == 503
        assert error_line(log_lines)["error_type"] == "internal"

    def test_an_unhandled_exception_is_internal_with_its_traceback(self, api_client, record, monkeypatch, log_lines):
        def boom(**kwargs):
            raise RuntimeError("a bug in a service")

        monkeypatch.setattr("predictions.api.views.prediction_create", boom)
        client = APIClient(raise_request_exception=False)
        client.credentials(**api_client("predict")._credentials)

        assert client.post(PREDICT, record, format="json").status_code == 500
        line = error_line(log_lines)
        assert (line["error_type"], line["status"], line["levelname"]) == ("internal", 500, "ERROR")
        assert "RuntimeError: a bug in a service" in line["exc_info"]


WRITER = """
import logging, sys
import django
django.setup()
logger = logging.getLogger("studentperf.test")
for number in range(int(sys.argv[1])):
    logger.info("line", extra={"writer": sys.argv[2], "number": number, "padding": "x" * 200})
"""


def log_file_env(log_file: Path, *, max_bytes: int, backups: int) -> dict:
    """The environment of a production process logging to `log_file`."""
    return {
        "PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "studentperf.settings",
        "DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY, "LOG_FILE": str(log_file),
        "LOG_FILE_MAX_BYTES": str(max_bytes), "LOG_FILE_BACKUP_COUNT": str(backups),
    }


def test_the_log_file_rotates_by_size_and_two_processes_lose_no_line(tmp_path):
    env = log_file_env(tmp_path / "studentperf.log", max_bytes=20000, backups=100)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, "300", name], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("a", "b")
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]

    files = sorted(tmp_path.glob("studentperf.log*"))
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    written = [(line["writer"], line["number"]) for line in lines if line["name"] == "studentperf.test"]
    # A file is rotated once a line takes it to the limit: none is larger than the limit and one line.
    assert len(files) > 10 and all(path.stat().st_size < 20000 + 500 for path in files)
    assert sorted(written) == [(writer, number) for writer in ("a", "b") for number in range(300)]
    assert all("request_id" in line for line in lines)


def test_old_log_files_beyond_the_backup_count_are_removed(tmp_path):
    env = log_file_env(tmp_path / "studentperf.log", max_bytes=5000, backups=2)
    subprocess.run([sys.executable, "-c", WRITER, "200", "a"], cwd=ROOT, env=env, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    assert sorted(path.name for path in tmp_path.glob("studentperf.log*")) == [
        "studentperf.log", "studentperf.log.1", "studentperf.log.2"
    ]


def _writer_streams(env: dict, *command: str) -> tuple[list[str], list[str]]:
    """The JSON lines of logger studentperf.test a process wrote on (stdout, stderr)."""
    done = subprocess.run(list(command), cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True)

    def ours(text: str) -> list[str]:
        return [line for line in text.splitlines() if '"studentperf.test"' in line]

    return ours(done.stdout), ours(done.stderr)


def test_servers_log_to_stdout_and_a_setting_moves_the_lines_to_stderr(tmp_path):
    env = log_file_env(tmp_path / "unused.log", max_bytes=10**6, backups=1)
    del env["LOG_FILE"]
    stdout, stderr = _writer_streams(env, sys.executable, "-c", WRITER, "3", "a")
    assert len(stdout) == 3 and stderr == []
    assert all(json.loads(line)["message"] == "line" for line in stdout)

    stdout, stderr = _writer_streams({**env, "LOG_STREAM": "stderr"}, sys.executable, "-c", WRITER, "3", "a")
    assert stdout == [] and len(stderr) == 3


def test_a_management_command_keeps_its_stdout_for_its_output(tmp_path):
    env = log_file_env(tmp_path / "unused.log", max_bytes=10**6, backups=1)
    del env["LOG_FILE"]
    # `shell -c` logs a line the way any command's code would; its stdout is what it prints.
    code = 'import logging; logging.getLogger("studentperf.test").warning("line"); print("output")'
    done = subprocess.run([sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code], cwd=ROOT, env=env, check=True,
                          timeout=120, capture_output=True, text=True)
    assert done.stdout.strip() == "output"
    assert json.loads(next(line for line in done.stderr.splitlines() if "studentperf.test" in line))["message"] == "line"
