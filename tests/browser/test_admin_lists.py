"""The admin's lists in a real browser, at a laptop's 1280 px and a phone's 390 px: no table is clipped (wider than
the box that holds it, so that a column hides behind a scroll bar) and the page itself never scrolls sideways."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from modelstore import services
from predictions.access.api_keys import api_key_create, api_key_revoke
from predictions.access.oauth_clients import oauth_client_create
from predictions.models import ApiKey
from predictions.services import outcome_record, prediction_create, student_create
from tests.browser.conftest import DESKTOP

PHONE = {"width": 390, "height": 844}
# The lists docs/admin.md shows (`make screenshots`), at both widths.
PICTURED = ("model-versions", "activations", "api-keys", "audit-log")

LISTS = {
    "model-versions": "/admin/modelstore/modelversion/",
    "activations": "/admin/modelstore/modelactivation/",
    "api-keys": "/admin/predictions/apikey/",
    "oauth-clients": "/admin/predictions/oauthclient/",
    "oauth-tokens": "/admin/oauth2_provider/accesstoken/",
    "audit-log": "/admin/predictions/prediction/",
    "outcomes": "/admin/predictions/outcome/",
    "students": "/admin/predictions/student/",
}

# Every table of `scope` wider than the element around it, and how much wider the page is than the window.
CLIPPED = """(scope) => {
  const tables = [...document.querySelectorAll(`${scope} table`)].filter(t => t.offsetParent !== null);
  return {
    tables: tables.filter(t => t.scrollWidth > t.parentElement.clientWidth)
                  .map(t => `${t.closest('[id]').id}: ${t.scrollWidth} px in ${t.parentElement.clientWidth} px`),
    page: document.documentElement.scrollWidth - window.innerWidth,
    count: tables.length,
  };
}"""


@pytest.fixture
def admin_rows(active_version, small_pipelines, make_user, record):
    """A little of everything the lists show, with long names where people would write them."""
    admin = make_user("modeladmin", "model_admin")
    teacher = make_user("teacher")
    candidate = services.model_version_register(
        pipelines=small_pipelines, name="retrained on the 2025-2026 outcomes", description="", created_by=admin,
    )
    services.model_version_activate(version=candidate, user=admin)
    services.model_version_rollback(user=admin)
    services.model_version_challenger_set(version=candidate, user=admin)
    services.model_version_register(pipelines={"A": small_pipelines["A"]}, name="only setup A", created_by=admin)

    used, _ = api_key_create(name="school information system (nightly sync)", scopes=["predict", "read", "write"])
    ApiKey.objects.filter(pk=used.pk).update(last_used=timezone.now())
    api_key_create(name="grades import", scopes=["write"], expires_days=30)
    api_key_revoke(api_key=api_key_create(name="old timetable system", scopes=["read"])[0])
    client, _ = oauth_client_create(name="regional education office dashboard", scopes=["read"])
    AccessToken.objects.create(
        application=client.application, token="browser-test-token", scope="read",
        expires=timezone.now() + timedelta(hours=1),
    )

    student = student_create(data={"external_id": "2025-0042", **record}, teacher=teacher)
    outcome_record(student=student, final_grade=11, user=teacher)
    outcome_record(student=student, final_grade=12, user=teacher)
    prediction_create(record=record, source="web", user=teacher, student=student)
    prediction_create(record=record, source="api", api_key_prefix=used.prefix)
    prediction_create(record=record, source="api", oauth_client_id=client.client_id, oauth_client_name=client.name)
    return candidate


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_admin_list_fits_its_screen(page, log_in, admin_rows, viewport, screenshot):
    page.set_viewport_size(viewport)
    log_in(page, "modeladmin")

    # On a version's page only its activation history is checked here (the rest of that page has its own tests).
    pages = {**{name: (url, "#content") for name, url in LISTS.items()},
             "version-activations": (f"{LISTS['model-versions']}{admin_rows.pk}/change/", "#activations-group")}
    for name, (url, scope) in pages.items():
        page.goto(url)
        if name in PICTURED:
            screenshot(page, f"admin-list-{name}-{viewport['width']}")
        found = page.evaluate(CLIPPED, scope)
        assert found["count"] >= 1, f"{name}: no table shown"
        assert found["tables"] == [], f"{name} at {viewport['width']} px: clipped {found['tables']}"
        sideways = f"{name} at {viewport['width']} px: the page scrolls {found['page']} px sideways"
        assert scope != "#content" or found["page"] <= 0, sideways


def test_the_lists_speak_in_words(page, log_in, admin_rows):
    log_in(page, "modeladmin")

    page.goto(LISTS["model-versions"])
    states = page.locator("td.field-state").all_inner_texts()
    assert sorted(states) == ["active", "challenger", "rejected"]
    page.goto(LISTS["api-keys"])
    assert sorted(page.locator("td.field-state").all_inner_texts()) == ["active", "active", "revoked"]
    assert page.locator("#result_list img").count() == 0  # no icons standing for yes and no
    assert page.title() == "Select API key to change | studentperf administration"
