"""The model version and activation lists in words: states, names instead of "object (1)", times in the school's
time zone to the minute."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from modelstore import services
from modelstore.models import ModelActivation, ModelVersion

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/modelstore/modelversion/"
ACTIVATIONS = "/admin/modelstore/modelactivation/"
SUMMER_NOON_UTC = datetime(2026, 7, 1, 12, 34, 56, tzinfo=timezone.utc)  # 13:34 in Lisbon (UTC+1 in summer)


@pytest.fixture(autouse=True)
def school_time_zone(settings):
    settings.TIME_ZONE = "Europe/Lisbon"


@pytest.fixture
def history(register, model_admin):
    first, second = register(name="first"), register(name="second")
    services.model_version_activate(version=first, user=model_admin)
    services.model_version_activate(version=second, user=model_admin)
    services.model_version_rollback(user=model_admin)
    services.model_version_challenger_set(version=second, user=model_admin)
    ModelActivation.objects.update(activated_at=SUMMER_NOON_UTC)
    ModelVersion.objects.update(created_at=SUMMER_NOON_UTC)
    return first, second


def _cells(page: str, column: str) -> list[str]:
    """The text of a list's (or an inline's) cells of `column`, in order."""
    cells = re.findall(rf'<t[dh] class="field-{column}[^"]*">(.*?)</t[dh]>', page, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_the_version_list_gives_each_state_in_words_with_the_challenger(admin_client, history, register,
                                                                        small_pipelines):
    register(pipelines={"A": small_pipelines["A"]}, name="broken")

    page = admin_client.get(VERSIONS).content.decode()

    assert _cells(page, "version_number") == ["v3", "v2", "v1"]
    assert _cells(page, "state") == ["rejected", "challenger", "active"]
    assert _cells(page, "setup_list")[1:] == ["A, B, C", "A, B, C"]
    assert '<time datetime="2026-07-01T12:34:56+00:00">2026-07-01 13:34</time>' in page


def test_the_version_list_filters_by_role_in_words(admin_client, history):
    page = admin_client.get(VERSIONS).content.decode()
    challenger = admin_client.get(VERSIONS, {"role": "challenger"}).content.decode()
    others = admin_client.get(VERSIONS, {"role": "other"}).content.decode()

    assert "By role" in page and "The challenger" in page and "By is challenger" not in page
    assert _cells(challenger, "version_number") == ["v2"]
    assert _cells(others, "version_number") == ["v1"]


def test_the_activation_history_names_versions_and_people_in_words(admin_client, history, model_admin):
    first, second = history
    page = admin_client.get(ACTIVATIONS).content.decode()
    detail = admin_client.get(f"{ACTIVATIONS}{ModelActivation.objects.first().pk}/change/").content.decode()

    assert sorted(_cells(page, "what")) == ["activated", "activated", "rolled back to"]
    assert "v2 second" in _cells(page, "replaced") and set(_cells(page, "by")) == {model_admin.username}
    assert "ModelActivation object" not in page + detail
    assert "v1 rolled back to on 2026-07-01 13:34" in detail  # the row's name, in the title and breadcrumbs


def test_a_version_page_lists_its_activations_in_words(admin_client, history):
    first, _ = history

    page = admin_client.get(f"{VERSIONS}{first.pk}/change/").content.decode()

    history_table = page[page.index('id="activations-group"'):]
    assert _cells(history_table, "what") == ["rolled back to", "activated"]
    assert "2026-07-01 13:34" in history_table and "v2 second" in history_table
