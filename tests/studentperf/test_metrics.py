"""GET /metrics: refused without the bearer token; exact counts after known requests; database-backed series.

The default registry lives as long as the test session, so every count is compared before and after.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from celery import signals
from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from predictions.batches.services import batch_job_create, batch_job_process
from predictions.models import AccuracyCheck, Alert, BatchJob, Prediction
from predictions.monitoring import metrics as database
from studentperf import metrics
from studentperf.celery import worker_check
from studentperf.metrics import events
from studentperf.observability import ERROR_TYPES

from tests.predictions.batches.support import broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-metrics-token-0123456789"
PREDICT = "/api/v1/predict"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[str, list]:
    """{sample name: [(labels, value), ...]} of one authorised scrape, parsed as Prometheus would."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    return sum(found for sample_labels, found in samples.get(name, ()) if labels.items() <= sample_labels.items())


def rise(before: dict, after: dict, name: str, **labels) -> float:
    """How much `name` (summed over the samples with `labels`) grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


# --- access ---


def test_metrics_without_a_token_are_refused_with_a_bearer_challenge(client):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"studentperf_" not in response.content


def test_a_scraper_asking_for_openmetrics_gets_it(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT="application/openmetrics-text")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, f"Token {TOKEN}"])
def test_metrics_with_a_wrong_token_or_scheme_are_refused(client, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_are_refused_to_everyone_while_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 403
    assert "METRICS_TOKEN is not configured" in response.content.decode()


def test_metrics_answer_get_only(client):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


def test_the_token_opens_the_prometheus_text_format_without_a_login(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "studentperf_http_requests", "studentperf_http_request_duration_seconds", "studentperf_predictions",
        "studentperf_predictions_unusual", "studentperf_prediction_duration_seconds", "studentperf_validation_errors",
        "studentperf_errors", "studentperf_celery_tasks", "studentperf_model_active_version", "studentperf_batch_rows",
        "studentperf_alerts_open", "studentperf_accuracy_check_accuracy", "studentperf_accuracy_check_unusual_accuracy",
        "studentperf_accuracy_check_unusual_pairs", "studentperf_database_up",
    } <= names


# --- requests, predictions, errors (the middleware reports each request) ---


def test_each_api_prediction_request_is_counted_once_by_endpoint_and_status(client, api_client, active_version, record):
    api = api_client("predict")
    before = scrape(client)

    for _ in range(3):
        assert api.post(PREDICT, record, format="json").status_code == 200

    after = scrape(client)
    labels = {"endpoint": "api/v1/predict", "method": "POST", "status": "200"}
    assert rise(before, after, "studentperf_http_requests_total", **labels) == 3
    duration = "studentperf_http_request_duration_seconds_count"
    assert rise(before, after, duration, **labels) == 3


@pytest.mark.django_db(transaction=True)  # counted once committed: real transactions, as in production
@pytest.mark.usefixtures("roles")
def test_each_api_prediction_is_counted_by_version_setup_source_and_risk(client, api_client, active_version, record):
    api = api_client("predict")
    before = scrape(client)

    api.post(PREDICT, record, format="json")
    api.post(PREDICT, {"instances": [record, dict(record, G2=None)]}, format="json")

    after = scrape(client)
    served = Counter((row.setup, row.risk) for row in Prediction.objects.all())
    assert Counter(setup for setup, _ in served.elements()) == {"A": 2, "B": 1}
    for (setup, risk), count in served.items():
        labels = {"model_version": str(active_version.version), "setup": setup, "source": "api", "risk": risk}
        assert rise(before, after, "studentperf_predictions_total", **labels) == count
    calls = "studentperf_prediction_duration_seconds_count"
    assert rise(before, after, calls, source="api") == 2  # one per call


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("roles")
def test_predictions_rolled_back_are_not_counted(client, active_version, record):
    from django.db import transaction

    from predictions.services import prediction_create_many

    calls = "studentperf_prediction_duration_seconds_count"
    before = scrape(client)
    with pytest.raises(RuntimeError), transaction.atomic():
        prediction_create_many(records=[record, record], source=Prediction.Source.BATCH)
        raise RuntimeError("the chunk fails after predicting")
    after = scrape(client)
    assert rise(before, after, calls, source="batch") == 0

    with transaction.atomic():
        prediction_create_many(records=[record, record], source=Prediction.Source.BATCH)
    committed = scrape(client)
    assert rise(after, committed, calls, source="batch") == 1
    labels = {"model_version": str(active_version.version), "setup": "A", "source": "batch"}
    assert sum(rise(after, committed, "studentperf_predictions_total", risk=risk, **labels)
               for risk in ("high", "medium", "low")) == 2


def test_a_refused_record_counts_its_fields_and_a_validation_error(client, api_client, active_version, record):
    api = api_client("predict")
    before = scrape(client)

    response = api.post(PREDICT, {"instances": [record, dict(record, age=40, sex="X")]}, format="json")

    assert response.status_code == 400
    after = scrape(client)
    for field in ("age", "sex"):
        assert rise(before, after, "studentperf_validation_errors_total", field=field, source="api") == 1
    assert rise(before, after, "studentperf_errors_total", type="validation") == 1


def test_a_wrong_api_key_counts_an_auth_error(client, record):
    before = scrape(client)

    response = client.post(PREDICT, record, content_type="application/json", HTTP_AUTHORIZATION="Api-Key wrong.key")

    assert response.status_code in (401, 403)
    after = scrape(client)
    assert rise(before, after, "studentperf_errors_total", type="auth") == 1


def test_observing_directly_adds_exactly_what_was_observed(client):
    before = scrape(client)

    metrics.request_observe(endpoint="students/<int:pk>/", method="get", status=200, seconds=0.003)
    metrics.request_observe(endpoint="students/<int:pk>/", method="GET", status=200, seconds=2.0)
    metrics.request_observe(endpoint="students/<int:pk>/", method="BREW", status=405, seconds=0.001)
    metrics.error_observe(error_type="throttled")

    after = scrape(client)
    assert rise(before, after, "studentperf_http_requests_total", method="OTHER", status="405") == 1
    labels = {"endpoint": "students/<int:pk>/", "method": "GET", "status": "200"}
    assert rise(before, after, "studentperf_http_requests_total", **labels) == 2
    bucket = "studentperf_http_request_duration_seconds_bucket"
    assert rise(before, after, bucket, le="0.005", **labels) == 1
    assert rise(before, after, bucket, le="+Inf", **labels) == 2
    assert rise(before, after, "studentperf_errors_total", type="throttled") == 1


def test_an_unknown_error_type_or_source_is_a_programming_error():
    with pytest.raises(ValueError, match="error_type"):
        metrics.error_observe(error_type="teapot")
    with pytest.raises(ValueError, match="source"):
        metrics.validation_errors_observe(fields=["age"], source="email")


def test_predictions_are_counted_from_their_rows_with_the_version_number(client, active_version):
    rows = [Prediction(model_version=active_version, setup="C", risk=risk, source="web")
            for risk in ("high", "high", "low")]
    before = scrape(client)

    metrics.predictions_observe(predictions=rows, source="web", seconds=0.02)

    after = scrape(client)
    name, version = "studentperf_predictions_total", str(active_version.version)
    for risk, served in (("high", 2), ("low", 1)):
        labels = {"model_version": version, "setup": "C", "source": "web", "risk": risk}
        assert rise(before, after, name, **labels) == served


def test_predictions_flagged_unusual_are_counted_apart_from_their_rows(client, active_version):
    flags = (True, False, None, True)  # None: a version without the novelty check flags nothing
    rows = [Prediction(model_version=active_version, setup="A", risk="high", source="api", unusual=unusual)
            for unusual in flags]
    before = scrape(client)

    metrics.predictions_observe(predictions=rows, source="api", seconds=0.02)

    after = scrape(client)
    labels = {"model_version": str(active_version.version), "setup": "A", "source": "api", "risk": "high"}
    assert rise(before, after, "studentperf_predictions_total", **labels) == 4
    assert rise(before, after, "studentperf_predictions_unusual_total", **labels) == 2


def test_unusual_predictions_made_through_the_service_are_counted_once_committed(
    client, active_version, odd_record, record, django_capture_on_commit_callbacks
):
    from predictions.services import prediction_create, prediction_create_many

    name, labels = "studentperf_predictions_unusual_total", {"model_version": str(active_version.version)}
    before = scrape(client)

    with django_capture_on_commit_callbacks(execute=True):
        served = [*prediction_create_many(records=[odd_record, record, odd_record], source=Prediction.Source.API),
                  prediction_create(record=odd_record, source=Prediction.Source.WEB)]
    with django_capture_on_commit_callbacks(execute=True):
        typical = prediction_create_many(records=[record, dict(record, G2=None)], source=Prediction.Source.WEB)

    after = scrape(client)
    assert [prediction.unusual for prediction in served + typical] == [True, False, True, True, False, False]
    assert rise(before, after, name, source="api", **labels) == 2
    assert rise(before, after, name, source="web", **labels) == 1
    assert rise(before, after, "studentperf_predictions_total", **labels) == 6
    unusual_by_risk = Counter(prediction.risk for prediction in served if prediction.unusual)
    for risk, count in unusual_by_risk.items():
        assert rise(before, after, name, setup="A", risk=risk, **labels) == count


@pytest.mark.parametrize(("name", "label"), [
    ("instances.3.age", "age"), ("3.age", "age"), ("age", "age"), ("3.student_id", "student_id"),
    ("7", "record"), ("file", "file"), ("x" * 100, "x" * events.FIELD_NAME_MAX), ("bad name!", "bad_name_"),
])
def test_a_refused_field_is_labelled_by_its_name_without_position(name, label):
    assert events.field_label(name) == label


def test_names_outside_the_schema_stop_making_new_labels_after_a_few(monkeypatch):
    monkeypatch.setattr(events, "_other_fields", set())
    monkeypatch.setattr(events, "OTHER_FIELDS_MAX", 2)

    labels = [events.field_label(name) for name in ("surname", "nickname", "favourite_colour", "surname", "age")]

    assert labels == ["surname", "nickname", "other", "surname", "age"]


def test_validation_errors_count_every_record_and_field(client):
    before = scrape(client)

    metrics.validation_errors_observe(fields=["instances.0.age", "instances.4.age", "2.Medu", "5"], source="web")

    after = scrape(client)
    name = "studentperf_validation_errors_total"
    for field, count in (("age", 2), ("Medu", 1), ("record", 1)):
        assert rise(before, after, name, field=field, source="web") == count


def test_rejected_batch_rows_count_their_fields_once(  # noqa: F811  (broker: the fixture imported above)
    client, broker, user, active_version, record, django_capture_on_commit_callbacks,
):
    data = csv_text([record, dict(record, age=40), dict(record, age=99, Mjob="astronaut")]).encode()
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_create(data=data, file_name="class.csv", source="web", user=user)
    before = scrape(client)

    batch_job_process(job_id=job.pk)
    batch_job_process(job_id=job.pk)  # a duplicate message: the job is done, nothing is counted again

    after = scrape(client)
    name = "studentperf_validation_errors_total"
    for field, count in (("age", 2), ("Mjob", 1)):
        assert rise(before, after, name, field=field, source="batch") == count
    assert value(after, "studentperf_batch_rows_total", outcome="predicted") == 1
    assert value(after, "studentperf_batch_rows_total", outcome="rejected") == 2


# --- error_summary (the monitoring page) ---


def test_error_summary_totals_requests_and_every_error_type():
    before = metrics.error_summary()

    metrics.request_observe(endpoint="health/live", method="GET", status=200, seconds=0.001)
    metrics.request_observe(endpoint="api/v1/predict", method="POST", status=400, seconds=0.01)
    metrics.error_observe(error_type="validation")
    metrics.error_observe(error_type="validation")
    metrics.error_observe(error_type="internal")

    after = metrics.error_summary()
    assert set(after["errors"]) == set(ERROR_TYPES)
    assert after["requests"] - before["requests"] == 2
    assert {kind: after["errors"][kind] - before["errors"][kind] for kind in ERROR_TYPES} == {
        "validation": 2, "auth": 0, "throttled": 0, "model_unavailable": 0, "internal": 1,
    }


def test_error_summary_and_metrics_sum_every_process_in_multiprocess_mode(tmp_path):
    """Two forked processes each count; a third reads both (as gunicorn's workers and /metrics do)."""
    script = textwrap.dedent("""
        import os, sys
        import django
        django.setup()
        from prometheus_client import generate_latest
        from studentperf import metrics
        from studentperf.metrics.registry import counters_registry

        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                metrics.request_observe(endpoint="health/live", method="GET", status=200, seconds=0.001)
                metrics.error_observe(error_type="auth")
                os._exit(0)
            os.waitpid(pid, 0)
        summary = metrics.error_summary()
        assert summary["requests"] == 2 and summary["errors"]["auth"] == 2, summary
        text = generate_latest(counters_registry()).decode()
        assert 'studentperf_http_requests_total{endpoint="health/live",method="GET",status="200"} 2.0' in text, text
        print("ok", len(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])))
    """)
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "studentperf.test_settings",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr
    said, files = result.stdout.splitlines()[-1].split()  # after the log lines
    assert said == "ok" and int(files) >= 2  # a file per process


# --- database-backed series ---


def check_create(version, *, accuracy: float, drifting: list[str], pairs: int = 40) -> AccuracyCheck:
    return AccuracyCheck.objects.create(
        model_version=version, pairs=pairs,
        metrics={"accuracy": accuracy, "rmse": 2.5, "interval_coverage": 0.85, "stated_coverage": 0.9},
        drift={"status": "drifting" if drifting else "ok", "drifting": drifting},
    )


def test_the_active_version_and_its_latest_check_are_read_from_the_database(client, active_version):
    check_create(active_version, accuracy=0.95, drifting=[])
    latest = check_create(active_version, accuracy=0.75, drifting=["age", "absences"])

    samples = scrape(client)

    version = str(active_version.version)
    assert value(samples, "studentperf_model_active_version") == active_version.version
    assert samples["studentperf_model_active_info"] == [({"version": version, "name": active_version.name}, 1.0)]
    figures = {"accuracy": 0.75, "rmse": 2.5, "interval_coverage": 0.85, "stated_coverage": 0.9, "pairs": 40,
               "drifting_features": 2}
    for figure, expected in figures.items():
        assert samples[f"studentperf_accuracy_check_{figure}"] == [({"model_version": version}, expected)]
    assert samples["studentperf_accuracy_check_timestamp_seconds"] == [
        ({"model_version": version}, pytest.approx(latest.created_at.timestamp()))]
    assert value(samples, "studentperf_database_up") == 1


def test_without_an_active_version_the_gauge_is_0_and_undefined_figures_are_left_out(client, small_pipelines):
    from modelstore import services

    version = services.model_version_register(pipelines=small_pipelines, name="never-active", created_by=None)
    AccuracyCheck.objects.create(model_version=version, pairs=0, metrics={"accuracy": None, "rmse": None}, drift={})

    samples = scrape(client)

    assert value(samples, "studentperf_model_active_version") == 0
    assert "studentperf_model_active_info" not in samples
    assert "studentperf_accuracy_check_accuracy" not in samples  # no pairs: no made-up figure
    assert samples["studentperf_accuracy_check_pairs"] == [({"model_version": str(version.version)}, 0)]
    assert samples["studentperf_accuracy_check_drifting_features"] == [({"model_version": str(version.version)}, 0)]


def test_batch_rows_and_open_alerts_are_totals_from_the_database(client, active_version):
    for done, failed in ((10, 3), (5, 0)):
        BatchJob.objects.create(source="api", file_name="f.csv", input_data=b"", input_sha256="0" * 64,
                                rows_total=done, rows_done=done, rows_failed=failed, chunk_size=500)
    Alert.objects.create(kind=Alert.Kind.DRIFT, message="drift")
    Alert.objects.create(kind=Alert.Kind.DRIFT, message="drift again")
    Alert.objects.create(kind=Alert.Kind.ACCURACY, message="seen", acknowledged_at=timezone.now())

    samples = scrape(client)

    assert value(samples, "studentperf_batch_rows_total", outcome="predicted") == 12
    assert value(samples, "studentperf_batch_rows_total", outcome="rejected") == 3
    assert {labels["kind"]: found for labels, found in samples["studentperf_alerts_open"]} == {
        "accuracy": 0, "coverage": 0, "drift": 2, "failures": 0, "retraining": 0}


def test_a_database_error_still_serves_the_counters_and_says_the_database_is_down(client, monkeypatch):
    def unreachable():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(database, "_batch_rows", unreachable)
    metrics.error_observe(error_type="internal")

    samples = scrape(client)

    assert value(samples, "studentperf_database_up") == 0
    assert "studentperf_model_active_version" not in samples
    assert value(samples, "studentperf_errors_total", type="internal") >= 1


def test_a_scrape_reads_the_database_in_a_few_queries(client, active_version, django_assert_max_num_queries):
    check_create(active_version, accuracy=0.9, drifting=[])

    with django_assert_max_num_queries(8):
        scrape(client)


# --- Celery ---


def test_celery_task_outcomes_and_durations_are_counted(client, active_version):
    before = scrape(client)

    assert worker_check.apply().successful()
    signals.task_retry.send(sender=worker_check, request=None, reason="broker lost", einfo=None)

    after = scrape(client)
    task = "studentperf.worker_check"
    name = "studentperf_celery_tasks_total"
    assert rise(before, after, name, task=task, outcome="succeeded") == 1
    assert rise(before, after, name, task=task, outcome="retried") == 1
    duration = "studentperf_celery_task_duration_seconds_count"
    assert rise(before, after, duration, task=task) == 1


def test_a_failing_celery_task_is_counted_as_failed(client):
    before = scrape(client)

    assert worker_check.apply().failed()  # no active model: the worker check raises

    after = scrape(client)
    labels = {"task": "studentperf.worker_check", "outcome": "failed"}
    assert rise(before, after, "studentperf_celery_tasks_total", **labels) == 1


class BackupAgeCollector:
    """A collector an app could name in METRICS_COLLECTORS."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("studentperf_backup_age_seconds", "Age of the latest backup.")
        family.add_metric([], 42)
        yield family


@pytest.mark.django_db
def test_a_scrape_reads_the_collectors_named_in_the_settings(client, settings):
    """The ground floor knows no app: its database-backed series come from settings.METRICS_COLLECTORS."""
    assert "studentperf_database_up" in scrape(client)

    settings.METRICS_COLLECTORS = [f"{__name__}.BackupAgeCollector"]
    samples = scrape(client)

    assert value(samples, "studentperf_backup_age_seconds") == 42
    assert "studentperf_database_up" not in samples
