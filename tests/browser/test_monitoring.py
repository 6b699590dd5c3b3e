"""The monitoring page in a real browser, for a model admin: charts with data, no axe violations, fits a phone,
acknowledging an alert comes back to it. Its full-page screenshot is the README's `monitoring.png`."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import _violations
from tests.predictions.monitoring.helpers import monitoring_history

PHONE = {"width": 375, "height": 800}
CHARTS = ("accuracy", "rmse", "coverage", "calibration", "subgroups", "drift", "volume", "latency", "errors")


@pytest.fixture
def history(make_user, active_version, small_pipelines, record):
    from modelstore import services

    newer = services.model_version_register(pipelines=small_pipelines, name="newer")
    services.model_version_activate(version=newer, user=None)
    make_user("modeladmin", "model_admin")
    return monitoring_history(old=active_version, new=newer, record=record)


@pytest.fixture
def api_traffic(page, make_api_key, record):
    """Real API calls to the live server, some refused: the error chart's counts (since the server started)."""
    _, key = make_api_key(scopes=["predict"])
    headers = {"Authorization": f"Api-Key {key}"}
    for _ in range(12):
        page.request.post("/api/v1/predict", data=record, headers=headers)
    for age in (99, 3):
        page.request.post("/api/v1/predict", data={**record, "age": age}, headers=headers)
    page.request.post("/api/v1/predict", data=record, headers={"Authorization": "Api-Key wrong.key"})


def test_model_admin_reads_the_monitoring_page(page, log_in, history, api_traffic, screenshot):
    log_in(page, "modeladmin")
    page.get_by_role("navigation").get_by_role("link", name="Monitoring").click()

    expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
    expect(page.locator("#status")).to_contain_text("differ from the training data in: school")
    for name in CHARTS:
        expect(page.locator(f"#fig-{name} svg.chart")).to_be_visible()
    expect(page.locator("#fig-errors [data-label='validation'] rect.bar")).to_have_count(1)
    expect(page.get_by_role("img", name="Pass/fail accuracy of each model version, check by check")).to_be_visible()
    assert _violations(page) == []
    screenshot(page, "monitoring")

    page.locator("#fig-drift summary").click()
    expect(page.locator("#fig-drift table")).to_contain_text("school")
    assert _violations(page) == []  # the open numbers table too

    page.get_by_role("button", name="Acknowledge the alert: input drift").click()
    expect(page.get_by_text("Alert acknowledged: input drift.")).to_be_visible()
    assert page.url.endswith("/monitoring/")
    expect(page.locator("#alerts")).to_contain_text("No open alert.")


def test_the_monitoring_page_fits_a_phone(page, log_in, history):
    page.set_viewport_size(PHONE)
    log_in(page, "modeladmin")
    page.goto("/monitoring/")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#fig-accuracy svg.chart").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert _violations(page) == []
