"""The monitoring page (/monitoring/): the status in words, a chart per question with its numbers, the alerts
with acknowledge and run-now (back to the page), its empty states, and who may see it."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import numpy as np
import pytest
from django.test import Client

from modelstore import services as model_services
from predictions import tasks
from predictions.monitoring.selectors import prediction_latency, prediction_volume, traffic_days
from predictions.monitoring.services import accuracy_check_run

from tests.conftest import sign_in
from tests.predictions.monitoring.accuracy_helpers import (
    batch_predict,
    dataset_records,
    graded_students,
    opposite_grades,
    outcomes_record,
    students_predict,
    unusual_students,
)
from tests.predictions.monitoring.helpers import check_at, days_ago, monitoring_history, predictions_at

pytestmark = pytest.mark.django_db
PAGE = "/monitoring/"
SVG = "{http://www.w3.org/2000/svg}"
FIGURES = ("accuracy", "rmse", "coverage", "calibration", "subgroups", "drift", "volume", "latency", "errors")


def signed_in(user) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def chart(html: str, chart_id: str) -> ET.Element:
    [markup] = re.findall(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, flags=re.S)
    return ET.fromstring(markup)


def figure(html: str, name: str) -> str:
    [markup] = re.findall(rf'<figure [^>]*id="fig-{name}".*?</figure>', html, flags=re.S)
    return markup


@pytest.fixture
def errors_counted(monkeypatch):
    """What studentperf.metrics.error_summary answers: 200 requests, 5 refused values, 2 bad keys."""
    summary = {"requests": 200, "errors": {"validation": 5, "auth": 2, "throttled": 0, "model_unavailable": 0,
                                           "internal": 0}}
    monkeypatch.setattr("predictions.monitoring.selectors.error_summary", lambda: summary)
    return summary


@pytest.fixture
def two_versions(active_version, small_pipelines):
    """The fixture's version, then a newer one activated: (old, new)."""
    new = model_services.model_version_register(pipelines=small_pipelines, name="newer")
    return active_version, model_services.model_version_activate(version=new, user=None)


@pytest.fixture
def history(two_versions, record):
    """Two weeks of checks of both versions, daily predictions from every source, drift in school, an alert."""
    old, new = two_versions
    return monitoring_history(old=old, new=new, record=record)


def test_a_model_admin_sees_the_status_and_every_chart(history, model_admin, errors_counted, two_versions):
    old, new = two_versions
    response = signed_in(model_admin).get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert (f"Model v{new.version} is serving predictions. The latest check of v{new.version}" in html
            and "right pass/fail call for 76% of 66 recorded final grades. 1 alert is open (below). Recent inputs "
                "differ from the training data in: school." in html)
    for name in FIGURES:
        markup = figure(html, name)
        assert "<figcaption>" in markup and "<strong>Good:</strong>" in markup and "Show the numbers" in markup
        assert f'id="chart-{name}"' in markup and 'role="img"' in markup and "chart-empty" not in markup
    assert 'href="/monitoring/" aria-current="page">Monitoring</a>' in html
    assert 'href="/monitoring/accuracy/"' in html
    assert 'data-kind="drift"' in html and "Run the check now" in html


def test_each_version_with_checks_is_a_line(history, model_admin, two_versions):
    old, new = two_versions
    html = signed_in(model_admin).get(PAGE).content.decode()

    for chart_id in ("chart-accuracy", "chart-rmse", "chart-coverage"):
        svg = chart(html, chart_id)
        lines = {group.get("data-series"): group for group in svg.iter(f"{SVG}g") if group.get("data-series")}
        assert set(lines) == {f"v{old.version}", f"v{new.version} (active)"}
        markers = {name: len([child for child in group if child.get("class") == "marker"])
                   for name, group in lines.items()}
        assert markers == {f"v{old.version}": 15, f"v{new.version} (active)": 7}  # one per check with pairs


def test_latency_percentiles_are_per_day_of_web_and_api_predictions(active_version):
    predictions_at(active_version, days_ago(2), latencies=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    predictions_at(active_version, days_ago(1), latencies=[5], source="web")
    predictions_at(active_version, days_ago(1, hour=13), latencies=[15], source="api")
    predictions_at(active_version, days_ago(1), latencies=[9999], source="batch")  # a chunk's: left out
    days = traffic_days()

    latency = prediction_latency(days=days)

    assert latency["p50"][-3:] == [pytest.approx(55.0), pytest.approx(10.0), None]
    assert latency["p95"][-3:] == [pytest.approx(95.5), pytest.approx(14.5), None]
    assert latency["p95"][-3] == pytest.approx(np.percentile(np.arange(10, 101, 10), 95))
    assert latency["p50"][:-3] == [None] * (len(days) - 3)
    assert latency["samples"] == 12 and latency["capped"] is False
    latest = prediction_latency(days=days, cap=2)
    assert latest["samples"] == 2 and latest["capped"] is True and latest["p50"][-3] is None  # day -2 not read


def test_volume_counts_each_source_per_day(active_version):
    predictions_at(active_version, days_ago(2), latencies=[1.0] * 4)
    predictions_at(active_version, days_ago(1), latencies=[1.0], source="api")
    predictions_at(active_version, days_ago(1), latencies=[1.0] * 3, source="batch")
    predictions_at(active_version, days_ago(0), latencies=[1.0] * 2, source="what_if")
    predictions_at(active_version, days_ago(40), latencies=[1.0] * 7)  # before the window

    volume = prediction_volume(days=traffic_days())

    assert {source: counts[-3:] for source, counts in volume.items()} == {
        "web": [4, 0, 0], "api": [0, 1, 0], "batch": [0, 3, 0], "what_if": [0, 0, 2]}
    assert sum(map(sum, volume.values())) == 10


def test_the_latency_and_volume_numbers_are_on_the_page(active_version, model_admin):
    predictions_at(active_version, days_ago(2), latencies=[10, 20, 30, 40, 50, 60, 70, 80, 90, 100])

    html = signed_in(model_admin).get(PAGE).content.decode()

    day = days_ago(2).date().isoformat()
    assert re.search(rf'<th scope="row">{day}</th><td class="number">55.0 ms</td><td class="number">95.5 ms</td>',
                     figure(html, "latency"))
    assert re.search(rf'<th scope="row">{day}</th><td class="number">10</td><td class="number">0</td>'
                     r'<td class="number">0</td>', figure(html, "volume"))


def test_errors_per_100_requests_by_type(history, model_admin, errors_counted):
    html = signed_in(model_admin).get(PAGE).content.decode()
    errors = figure(html, "errors")

    assert '<th scope="row">validation</th><td class="number">2.5</td><td class="number">5</td>' in errors
    assert '<th scope="row">auth</th><td class="number">1.0</td><td class="number">2</td>' in errors
    assert "200 requests counted." in errors
    bars = {group.get("data-label") for group in chart(html, "chart-errors").iter(f"{SVG}g") if group.get("data-label")}
    assert bars == {"validation", "auth", "throttled", "model unavailable", "internal"}


def test_drift_and_subgroups_come_from_a_real_check(active_version, dataset, user, model_admin):
    """The check's own drift report and subgroups, as accuracy_check_run writes them, drawn."""
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=31)
    shifted, _ = dataset_records(dataset, n=40, seed=32)
    batch_predict([{**record, "school": "MS"} for record in shifted], [None] * 40)
    [check] = accuracy_check_run()

    html = signed_in(model_admin).get(PAGE).content.decode()

    drift = chart(html, "chart-drift")
    school = drift.find(f".//{SVG}g[@data-label='school']")
    assert school.get("data-highlight") == "true" and any("drifting" in (text.text or "") for text in school)
    assert '<th scope="row">school</th>' in figure(html, "drift") and ">yes</td>" in figure(html, "drift")
    subgroups = chart(html, "chart-subgroups")
    labels = {group.get("data-label") for group in subgroups.iter(f"{SVG}g") if group.get("data-label")}
    expected = {f"{feature} = {value} ({metrics['pairs']})" for feature, groups in check.subgroups.items()
                for value, metrics in groups.items()}
    assert labels == expected
    assert any(text.text == "overall 0%" for text in subgroups.iter(f"{SVG}text"))  # every call was wrong


def test_calibration_draws_each_band_of_a_real_check_against_the_diagonal(active_version, dataset, user,
                                                                          model_admin):
    records, grades = dataset_records(dataset, n=60, seed=33)
    outcomes_record(students_predict(records, teacher=user), grades, user=user)  # the students' real G3
    [check] = accuracy_check_run()
    bands = check.metrics["reliability"]
    assert len(bands) >= 3

    html = signed_in(model_admin).get(PAGE).content.decode()

    svg = chart(html, "chart-calibration")
    rect = svg.find(f".//{SVG}rect[@class='plot-area']")
    left, top, width, height = (float(rect.get(name)) for name in ("x", "y", "width", "height"))
    markers = [child for child in svg.find(f".//{SVG}g[@data-series]") if child.get("class") == "marker"]
    assert [(float(marker.get("cx")), float(marker.get("cy"))) for marker in markers] == [
        pytest.approx((left + band["mean_pass_probability"] * width, top + (1 - band["pass_rate"]) * height), abs=0.06)
        for band in bands]
    diagonal = svg.find(f".//{SVG}line[@class='reference diagonal']")
    assert [float(diagonal.get(name)) for name in ("x1", "y1", "x2", "y2")] == pytest.approx(
        [left, top + height, left + width, top], abs=0.06)
    numbers = figure(html, "calibration")
    for band in bands:
        assert (f'<th scope="row">{band["low"]:.0%}-{band["high"]:.0%}</th>'
                f'<td class="number">{band["mean_pass_probability"]:.1%}</td>'
                f'<td class="number">{band["pass_rate"]:.1%}</td><td class="number">{band["pairs"]}</td>') in numbers
    assert (f"v{active_version.version}'s chances to pass have a Brier score of {check.metrics['brier']:.3f}"
            in unescape(numbers))
    busiest = max(bands, key=lambda band: band["pairs"])
    assert (f"When it said {busiest['low']:.0%}-{busiest['high']:.0%} chance to pass, {busiest['pass_rate']:.0%} "
            f"of the {busiest['pairs']} students passed.") in svg.find(f"{SVG}desc").text


def test_a_check_made_before_calibration_was_measured_says_so(active_version, model_admin):
    check = check_at(active_version, days_ago(1), accuracy=0.8, rmse=2.0, coverage=0.9)
    del check.metrics["reliability"], check.metrics["brier"]
    check.save()

    html = signed_in(model_admin).get(PAGE).content.decode()

    assert f"The latest check of v{active_version.version} was made before calibration was measured" in html
    assert 'id="chart-calibration"' not in html and 'id="chart-accuracy"' in html


def unusual_block(html: str) -> str:
    [markup] = re.findall(r'<div id="unusual-records">.*?</div>\s*</section>', html, flags=re.S)
    return markup


def test_the_accuracy_on_unusual_records_is_shown_beside_the_others(active_version, dataset, user, odd_record,
                                                                   model_admin):
    graded_students(dataset, teacher=user, n=30, grades_for=opposite_grades, seed=34)
    unusual_students(odd_record, [4, 12, 11, 6], teacher=user)
    [check] = accuracy_check_run()
    flagged, others = check.metrics["unusual"]["flagged"], check.metrics["unusual"]["unflagged"]
    assert flagged["pairs"] >= 4 and others["pairs"] and flagged["pairs"] + others["pairs"] == 34

    block = unusual_block(signed_in(model_admin).get(PAGE).content.decode())

    assert (f"Unusual records: accuracy {flagged['accuracy']:.0%} on {flagged['pairs']} flagged vs "
            f"{others['accuracy']:.0%} on {others['pairs']} others.") in block
    for name, group in (("Flagged unusual", flagged), ("Others", others)):
        assert (f'<th scope="row">{name}</th><td class="number">{group["pairs"]}</td>'
                f'<td class="number">{group["accuracy"]:.1%}</td><td class="number">{group["mae"]:.2f}</td>'
                f'<td class="number">{group["interval_coverage"]:.1%}</td>') in block


@pytest.mark.parametrize(("unusual", "sentence"), [
    (None, "was made before unusual records were measured; the next check measures them."),
    ({"flagged": {"pairs": 0}, "unflagged": {"pairs": 0}, "unknown": {"pairs": 60}},
     "predates the check for unusual records: none of its predictions is flagged or cleared."),
])
def test_a_check_without_unusual_figures_says_why(active_version, model_admin, unusual, sentence):
    check = check_at(active_version, days_ago(1), accuracy=0.8, rmse=2.0, coverage=0.9)
    if unusual:
        check.metrics["unusual"] = {group: {"accuracy": None, "mae": None, "interval_coverage": None, **figures}
                                    for group, figures in unusual.items()}
        check.save()

    block = unusual_block(signed_in(model_admin).get(PAGE).content.decode())

    assert f"v{active_version.version} " in block and sentence in block and "<table" not in block


def test_with_no_data_each_chart_says_so_in_words(db, model_admin, monkeypatch):
    monkeypatch.setattr("predictions.monitoring.selectors.error_summary", lambda: {"requests": 0, "errors": {}})

    html = signed_in(model_admin).get(PAGE).content.decode()

    assert "<svg" not in html
    assert "No model version is active" in html and "No accuracy check has run yet." in html
    assert html.count("No accuracy check has run yet. Checks run every 24 hours; press Run the check now above") == 3
    assert "No prediction was made in the last 30 days." in html
    assert "No web or API prediction was made in the last 30 days." in html
    assert "No request has been counted since the web server started." in html
    assert "to compare with the training data yet." in html
    no_grade = "No final grade is recorded yet for a prediction of the active version."
    assert html.count(no_grade) == 2  # the groups and the calibration
    assert "No check has compared unusual records with the others yet." in unusual_block(html)
    assert "No open alert." in html and "<details" not in html


def test_acknowledge_from_the_page_returns_to_it_and_closes_the_alert(history, model_admin):
    client = signed_in(model_admin)

    response = client.post(f"/monitoring/alerts/{history.pk}/acknowledge/", {"next": PAGE}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    history.refresh_from_db()
    assert history.acknowledged_by == model_admin
    html = response.content.decode()
    assert "Alert acknowledged: input drift." in html and "No open alert." in html and 'id="fig-drift"' in html


def test_a_next_elsewhere_is_ignored(history, model_admin):
    response = signed_in(model_admin).post(f"/monitoring/alerts/{history.pk}/acknowledge/",
                                           {"next": "https://elsewhere.example/"})

    assert response.status_code == 302 and response.url == PAGE


def test_run_now_from_the_page_returns_to_it(db, model_admin, monkeypatch):
    queued = []
    monkeypatch.setattr("studentperf.celery.broker_ping", lambda timeout=1.0: True)
    monkeypatch.setattr(tasks.accuracy_check_run, "delay", lambda: queued.append(1))

    response = signed_in(model_admin).post("/monitoring/accuracy/run/", {"next": PAGE}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)] and queued == [1]
    assert "The check is queued" in response.content.decode()


def test_run_now_with_the_broker_down_shows_the_page_with_the_reason(db, model_admin, monkeypatch):
    monkeypatch.setattr("studentperf.celery.broker_ping", lambda timeout=1.0: False)

    response = signed_in(model_admin).post("/monitoring/accuracy/run/", {"next": PAGE})

    html = response.content.decode()
    assert response.status_code == 503 and 'id="queue-error"' in html and 'id="fig-accuracy"' in html


def test_teachers_are_refused(history, user):
    assert signed_in(user).get(PAGE).status_code == 403


def test_anonymous_goes_to_the_login_page(db):
    response = Client().get(PAGE)

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
