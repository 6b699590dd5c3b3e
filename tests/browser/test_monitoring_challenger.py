"""The challenger on the monitoring page in a real browser (issue 19): the verdict in words and both versions'
figures side by side, without axe violations, within a phone's width."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from predictions.models import AccuracyCheck
from predictions.monitoring.challenger import challenger_comparison
from tests.browser.test_accessibility import _violations
from tests.browser.test_monitoring import PHONE
from tests.predictions.monitoring.helpers import check_at
from tests.predictions.monitoring.test_challenger import constructed


@pytest.fixture
def compared(make_user, active_version, small_pipelines):
    """A challenger, and the active version's latest check comparing the two on 212 constructed students."""
    from modelstore import services

    challenger = services.model_version_challenger_set(
        version=services.model_version_register(pipelines=small_pipelines, name="challenger"), user=None
    )
    check = check_at(active_version, timezone.now() - timedelta(minutes=5), accuracy=0.84, rmse=2.0, coverage=0.9)
    comparison = challenger_comparison(
        constructed(n=212, active_noise=3.0, challenger_noise=1.5), active_version=active_version.version,
        challenger_version=challenger.version, min_students=30,
    )
    AccuracyCheck.objects.filter(pk=check.pk).update(challenger=comparison)
    make_user("modeladmin", "model_admin")
    return comparison


def test_model_admin_reads_the_challenger_verdict_beside_the_active_version(page, log_in, compared):
    log_in(page, "modeladmin")
    page.goto("/monitoring/")

    section = page.locator("#challenger")
    expect(section.get_by_role("heading", name="The challenger: is the new version better on the same students?")) \
        .to_be_visible()
    expect(page.locator("#challenger-summary")).to_have_text(compared["recommendation"])
    assert compared["verdict"] == "better"
    table = section.get_by_role("region", name="The challenger: is the new version better on the same students?")
    expect(table.get_by_role("row")).to_have_count(5)  # the header and four figures
    expect(table.get_by_role("row", name="Pass/fail accuracy")).to_contain_text(
        f"{compared['challenger']['accuracy']:.1%}"
    )
    assert _violations(page) == []


def test_the_challenger_table_fits_a_phone(page, log_in, compared):
    page.set_viewport_size(PHONE)
    log_in(page, "modeladmin")
    page.goto("/monitoring/")

    expect(page.locator("#challenger-summary")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert _violations(page) == []
