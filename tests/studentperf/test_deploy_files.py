"""deploy/: the Prometheus alert rules and the Grafana dashboard parse, and every metric they use is exported.

With promtool on PATH (Debian's prometheus package; REQUIRE_PROMTOOL makes it required, as in CI) the rules and
every dashboard query are also checked by Prometheus' own parser, and a few rules are run on made-up series.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from predictions.models import AccuracyCheck, Alert, BatchJob
from studentperf import metrics
from tests.tools import tool_missing

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "studentperf.json"
METRIC_NAME = re.compile(r"\bstudentperf_[a-zA-Z0-9_]+")
# How a family's samples are named beside the family (histograms; counters as exposed).
SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count", "_total")
# Grafana's variables, replaced by what they stand for so that Prometheus can parse the queries.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", '"$endpoint"': '".*"'}


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_panels() -> list[dict]:
    return [panel for panel in json.loads(DASHBOARD.read_text())["panels"] if panel["type"] != "row"]


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in dashboard_panels() for target in panel["targets"]]


def family_of(name: str) -> str:
    for suffix in SAMPLE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_alert_rule_has_an_expression_a_severity_and_a_summary():
    rules = alert_rules()

    assert len(rules) >= 10
    for rule in rules:
        assert re.fullmatch(r"Studentperf[A-Za-z]+", rule["alert"]), rule
        assert METRIC_NAME.search(rule["expr"]) or "up{" in rule["expr"], rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert "for" in rule, rule["alert"]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))


def test_the_alert_rules_cover_errors_latency_the_model_accuracy_and_drift():
    used = {family_of(name) for rule in alert_rules() for name in METRIC_NAME.findall(rule["expr"])}

    assert {
        "studentperf_http_requests", "studentperf_http_request_duration_seconds", "studentperf_errors",
        "studentperf_model_active_version", "studentperf_accuracy_check_accuracy",
        "studentperf_accuracy_check_interval_coverage", "studentperf_accuracy_check_drifting_features",
        "studentperf_celery_tasks", "studentperf_accuracy_check_timestamp_seconds",
    } <= used


def test_the_accuracy_threshold_is_the_applications_default(settings):
    [rule] = [rule for rule in alert_rules() if rule["alert"] == "StudentperfAccuracyLow"]

    assert f"< {settings.ALERT_ACCURACY_BELOW:.2f}" in rule["expr"]
    assert f">= {settings.ALERT_MIN_PAIRS}" in rule["expr"]


def test_the_dashboard_is_an_importable_grafana_dashboard_with_a_query_per_panel():
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert [entry["name"] for entry in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    panels = dashboard_panels()
    assert len(panels) >= 12
    for panel in panels:
        assert panel["title"] and panel["description"], panel
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.django_db
def test_every_metric_the_rules_and_the_dashboard_use_is_exported(client, settings, active_version):
    """Scraped from a real /metrics, with a row of each kind in the database and an event of each kind seen."""
    settings.METRICS_TOKEN = "deploy-files-token"
    AccuracyCheck.objects.create(
        model_version=active_version, pairs=40, drift={"drifting": ["age"]},
        metrics={"accuracy": 0.9, "rmse": 2.0, "interval_coverage": 0.9, "stated_coverage": 0.9},
    )
    Alert.objects.create(kind=Alert.Kind.DRIFT, message="drift")
    BatchJob.objects.create(source="api", file_name="f.csv", input_data=b"", input_sha256="0" * 64, rows_total=2,
                            rows_done=2, rows_failed=1, chunk_size=500)
    metrics.request_observe(endpoint="health/live", method="GET", status=200, seconds=0.001)
    metrics.error_observe(error_type="validation")
    metrics.validation_errors_observe(fields=["age"], source="api")

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer deploy-files-token")

    assert response.status_code == 200
    exported = {family.name for family in text_string_to_metric_families(response.content.decode())}
    for source, expressions in (("alerts.yml", [rule["expr"] for rule in alert_rules()]),
                                ("studentperf.json", dashboard_queries())):
        used = {family_of(name) for expression in expressions for name in METRIC_NAME.findall(expression)}
        assert used, source
        assert used <= exported, f"{source} uses metrics /metrics does not export: {sorted(used - exported)}"


# --- promtool ---


@pytest.fixture
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        tool_missing("promtool is not installed (apt-get install prometheus).", required_by="REQUIRE_PROMTOOL")
    return binary


def promtool_run(promtool: str, *args: str) -> None:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_alert_rules(promtool):
    promtool_run(promtool, "check", "rules", str(ALERTS))


def test_promtool_parses_every_dashboard_query(promtool, tmp_path):
    queries = []
    for query in dashboard_queries():
        for variable, meaning in GRAFANA_VARIABLES.items():
            query = query.replace(variable, meaning)
        assert "$" not in query, f"a Grafana variable this test does not know: {query}"
        queries.append(query)
    rules = tmp_path / "dashboard.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}", "expr": query} for index, query in enumerate(queries)
    ]}]}))

    promtool_run(promtool, "check", "rules", str(rules))


def series(metric: str, value: float, **labels) -> dict:
    """promtool's input: `metric` scraped from one instance at `value` for 40 minutes."""
    shown = ",".join(f'{key}="{label}"' for key, label in {"job": "studentperf", "instance": "web1", **labels}.items())
    return {"series": f"{metric}{{{shown}}}", "values": f"{value}x40"}


def rules_test(promtool, tmp_path, cases: list[dict]) -> None:
    """Run promtool's rule unit tests on deploy/prometheus/alerts.yml: each case its input series and expected
    alerts, sampled every minute."""
    tests = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", **case} for case in cases],
    }
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    promtool_run(promtool, "test", "rules", str(test_file))


def test_the_model_rules_fire_for_the_active_version_only(promtool, tmp_path):
    """Accuracy below 80% on 30+ grades alerts for the active version, not a retired one or too few grades."""
    rules_test(promtool, tmp_path, [{
        "input_series": [
            series("studentperf_model_active_version", 2),
            series("studentperf_model_active_info", 1, version="2", name="current"),
            series("studentperf_accuracy_check_accuracy", 0.7, model_version="2"),
            series("studentperf_accuracy_check_pairs", 40, model_version="2"),
            series("studentperf_accuracy_check_accuracy", 0.5, model_version="1"),  # retired
            series("studentperf_accuracy_check_pairs", 400, model_version="1"),
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "StudentperfAccuracyLow", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "model_version": "2"},
                "exp_annotations": {
                    "summary": "Active model v2: pass/fail accuracy below 80%",
                    "description": "The latest accuracy check found 70% of pass/fail calls right on at least 30 "
                                   "recorded final grades. See /monitoring/accuracy/.",
                },
            }]},
            {"eval_time": "10m", "alertname": "StudentperfAccuracyLow", "exp_alerts": []},  # pending: for 15m
            {"eval_time": "20m", "alertname": "StudentperfNoActiveModel", "exp_alerts": []},
        ],
    }, {
        "input_series": [
            series("studentperf_model_active_version", 0),
            series("studentperf_accuracy_check_accuracy", 0.5, model_version="1"),
            series("studentperf_accuracy_check_pairs", 20, model_version="1"),
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "StudentperfAccuracyLow", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "StudentperfNoActiveModel", "exp_alerts": [{
                "exp_labels": {"severity": "critical"},
                "exp_annotations": {
                    "summary": "No model version is active",
                    "description": "Predictions are refused (503) until a model admin activates a version "
                                   "(docs/admin.md).",
                },
            }]},
        ],
    }])


def test_the_unusual_records_rule_fires_when_far_more_than_the_expected_share_is_flagged(promtool, tmp_path):
    """About 2% of records are flagged by design: 20% on 100+ predictions alerts, 2% or too few predictions do not."""
    def counter(metric: str, per_minute: int, version: str) -> dict:
        labels = f'job="studentperf",instance="web1",model_version="{version}",setup="A",source="api",risk="low"'
        return {"series": f"{metric}{{{labels}}}", "values": f"0+{per_minute}x120"}

    UNUSUAL = "studentperf_predictions_unusual_total"  # noqa: N806

    rules_test(promtool, tmp_path, [{
        "input_series": [
            # v3: 20% flagged; v2: 2%, as expected; v1: all flagged, but fewer than 100 predictions
            *(counter("studentperf_predictions_total", 10, "3"), counter(UNUSUAL, 2, "3")),
            *(counter("studentperf_predictions_total", 50, "2"), counter(UNUSUAL, 1, "2")),
            *(counter("studentperf_predictions_total", 1, "1"), counter(UNUSUAL, 1, "1")),
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "StudentperfUnusualRecordsHigh", "exp_alerts": []},  # pending
            {"eval_time": "60m", "alertname": "StudentperfUnusualRecordsHigh", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "model_version": "3"},
                "exp_annotations": {
                    "summary": "Model v3: many records unlike the training data",
                    "description": "20% of the predictions of the last 6 hours were for records unlike the students "
                                   "the model learned from (about 2% expected). The students may differ from the "
                                   "training data (see the drift check), or a client sends odd values; these "
                                   "predictions deserve care.",
                },
            }]},
        ],
    }])
