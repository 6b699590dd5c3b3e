from __future__ import annotations

import hashlib
import os

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from sklearn.pipeline import Pipeline

from modelstore import compilation, services, storage
from modelstore.models import ModelActivation, ModelVersion
from modelstore.package_validation import (
    CHECK_COMPILED,
    CHECK_FIGURES,
    CHECK_READABLE,
    CHECK_REFERENCE,
    CHECK_SCHEMA,
    CHECK_STRUCTURE,
    CHECK_TYPES,
)
from studentperf.errors import ApplicationError
from tests.conftest import sign_in
from tests.modelstore.helpers import cross_validated_claims

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/modelstore/modelversion/"
UPLOAD = f"{CHANGELIST}upload/"
ROLLBACK = f"{CHANGELIST}rollback/"
ADMIN_LOGIN = "/admin/login/"


def _activate_url(version: ModelVersion) -> str:
    return f"{CHANGELIST}{version.pk}/activate/"


def _page_url(version: ModelVersion) -> str:
    return f"{CHANGELIST}{version.pk}/change/"


def _statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.values_list("version", "status"))


def _action(client, action: str, *versions: ModelVersion):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(v.pk) for v in versions]}, follow=True
    )


@pytest.fixture
def staff(client, django_user_model):
    """A logged-in staff member who may see model versions but not change which one is served."""
    member = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    member.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    sign_in(client, member)
    return member


def test_versions_are_listed_and_shown_read_only(admin_client, register):
    version = register(name="listed")

    listing = admin_client.get(CHANGELIST).content.decode()
    detail = admin_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert "listed" in listing and "validated" in listing
    assert 'name="_save"' not in detail and 'name="name"' not in detail
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{version.pk}/delete/").status_code == 403


def test_the_list_actions_lead_to_the_confirmation_pages_and_switch_nothing_themselves(
    admin_client, admin_user, register
):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)

    activate = _action(admin_client, "activate_selected", second)
    assert activate.redirect_chain == [(_activate_url(second), 302)]
    assert "Yes, activate v2" in activate.content.decode() and _statuses() == {1: "active", 2: "validated"}

    response = admin_client.post(_activate_url(second), follow=True)
    assert "Now serving v2." in response.content.decode()
    assert ModelActivation.objects.first().activated_by == admin_user

    roll_back = _action(admin_client, "roll_back", second)
    assert roll_back.redirect_chain == [(ROLLBACK, 302)]
    assert "Yes, roll back to v1" in roll_back.content.decode() and _statuses() == {1: "retired", 2: "active"}
    response = admin_client.post(ROLLBACK, follow=True)
    assert "Rolled back: now serving v1 again." in response.content.decode()
    assert _statuses() == {1: "active", 2: "retired"}


def test_action_errors_are_shown_and_change_nothing(admin_client, register, small_pipelines):
    active = services.model_version_activate(version=register(), user=None)
    rejected = register(pipelines={"A": small_pipelines["A"]})

    refused = _action(admin_client, "activate_selected", rejected).content.decode()
    two = _action(admin_client, "activate_selected", active, rejected).content.decode()
    no_previous = _action(admin_client, "roll_back", active).content.decode()

    assert "Version 2 is rejected and cannot be activated." in refused and "Yes, activate" not in refused
    assert "Select exactly one version to activate." in two
    assert "There is no previously active version to roll back to." in no_previous
    assert _statuses() == {1: "active", 2: "rejected"}


def test_staff_without_change_permission_cannot_run_the_actions(client, staff, register):
    version = register()

    page = client.get(CHANGELIST).content.decode()
    _action(client, "activate_selected", version)

    assert "activate_selected" not in page and _statuses() == {1: "validated"}


def test_staff_with_change_permission_can_activate(client, staff, register):
    staff.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    version = register()

    _action(client, "activate_selected", version)
    assert _statuses() == {1: "validated"}
    client.post(_activate_url(version))

    assert _statuses() == {1: "active"} and ModelActivation.objects.get().activated_by == staff


def test_activation_history_is_read_only(admin_client, register):
    services.model_version_activate(version=register(), user=None)
    activation = ModelActivation.objects.get()

    assert admin_client.get("/admin/modelstore/modelactivation/").status_code == 200
    detail = admin_client.get(f"/admin/modelstore/modelactivation/{activation.pk}/change/").content.decode()
    assert 'name="_save"' not in detail
    assert admin_client.get(f"/admin/modelstore/modelactivation/{activation.pk}/delete/").status_code == 403


# -- upload, activate, rollback pages -------------------------------------------------------------------------


class _Custom:
    """A class no allow-list knows: what an untrusted package would hold."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


@pytest.fixture
def admin_session(client, model_admin):
    sign_in(client, model_admin)
    return client


@pytest.fixture
def good_package(small_pipelines) -> bytes:
    return storage.package_dumps(small_pipelines, {"name": "from outside", "metrics": {"claimed": {"rmse": 1.0}}})


def _upload(client, data: bytes, name="uploaded", headers=None, **extra):
    payload = {"file": SimpleUploadedFile("model.skops", data), "name": name, "description": "a try", **extra}
    return client.post(UPLOAD, payload, headers=headers)


def test_changelist_offers_upload_to_model_admins(admin_session):
    page = admin_session.get(CHANGELIST).content.decode()

    assert f'href="{UPLOAD}"' in page and "Upload a model" in page


def test_upload_of_a_good_package_is_validated_with_every_check_passed_and_activatable(
    admin_session, model_admin, active_version, good_package
):
    response = _upload(admin_session, good_package, name="candidate")

    uploaded = ModelVersion.objects.get(version=2)
    assert response.status_code == 302 and response.url == _page_url(uploaded)
    assert (uploaded.status, uploaded.name, uploaded.description, uploaded.created_by) == (
        "validated", "candidate", "a try", model_admin
    )
    checks = uploaded.validation_report["checks"]
    assert [check["check"] for check in checks] == [
        CHECK_READABLE, CHECK_TYPES, CHECK_STRUCTURE, CHECK_SCHEMA, CHECK_REFERENCE, CHECK_FIGURES, CHECK_COMPILED
    ]
    assert all(check["passed"] for check in checks)
    assert uploaded.metrics["claimed"] == {"rmse": 1.0} and "reference" in uploaded.metrics
    page = admin_session.get(response.url).content.decode()
    assert 'id="validation-report"' in page and "failed" not in page
    assert "Activate this version" in page and _activate_url(uploaded) in page

    admin_session.post(_activate_url(uploaded))

    assert _statuses() == {1: "retired", 2: "active"}


def test_version_page_shows_reference_metrics_beside_the_active_versions(admin_session, active_version, register):
    candidate = register(name="candidate")

    page = admin_session.get(_page_url(candidate)).content.decode()

    comparison = page[page.index('id="metrics-comparison"'):page.index("</table>", page.index('id="metrics-comparison"'))]
    assert "v2" in comparison and "v1 (active)" in comparison
    assert "On the training data (optimistic)" in comparison
    for setup in ("A", "B", "C"):
        assert f'{candidate.metrics["reference"]["setups"][setup]["rmse"]:.2f}' in comparison
        assert f'{active_version.metrics["reference"]["setups"][setup]["interval_coverage"]:.3f}' in comparison


def test_upload_holding_an_untrusted_type_is_rejected_naming_it_and_the_active_version_stays(
    admin_session, active_version, small_pipelines, model_store_dir
):
    pipelines = small_pipelines | {"A": Pipeline([("custom", _Custom())] + small_pipelines["A"].steps)}
    data = storage.package_dumps(pipelines, {})

    response = _upload(admin_session, data)

    rejected = ModelVersion.objects.get(version=2)
    assert rejected.status == "rejected" and f"{__name__}._Custom" in rejected.rejection_reason
    readable, types = rejected.validation_report["checks"]
    assert readable["passed"] and (types["check"], types["passed"]) == (CHECK_TYPES, False)
    assert f"{__name__}._Custom" in types["detail"] and "sklearn.tree._tree.Tree" in types["detail"]
    assert rejected.artifact_file == "" and rejected.artifact_size == len(data)
    assert rejected.artifact_sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(path.name for path in model_store_dir.iterdir()) == [active_version.artifact_file]
    assert _statuses() == {1: "active", 2: "rejected"}
    page = admin_session.get(response.url).content.decode()
    assert 'id="rejection-reason"' in page and f"{__name__}._Custom" in page


@pytest.mark.parametrize(
    "corrupt",
    [lambda good: os.urandom(4096), lambda good: good[: len(good) // 2]],
    ids=["random-bytes", "truncated-package"],
)
def test_upload_of_a_corrupt_file_is_rejected_with_the_reason_and_the_active_version_stays(
    admin_session, active_version, good_package, corrupt
):
    response = _upload(admin_session, corrupt(good_package))

    rejected = ModelVersion.objects.get(version=2)
    assert response.url == _page_url(rejected)
    assert rejected.status == "rejected" and "not a readable skops model package" in rejected.rejection_reason
    assert rejected.validation_report["checks"] == [
        {"check": CHECK_READABLE, "passed": False, "detail": rejected.rejection_reason}
    ]
    assert rejected.artifact_file == "" and _statuses() == {1: "active", 2: "rejected"}


def test_upload_larger_than_the_limit_is_refused_beside_the_field_and_not_recorded(admin_session, settings):
    settings.MODEL_UPLOAD_MAX_BYTES = 1000

    response = _upload(admin_session, b"x" * 1001)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["file"] and "at most 1000" in errors["file"][0]
    assert "at most 1000" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_activate_page_only_confirms_on_get_and_post_switches_the_active_version(
    admin_session, model_admin, active_version, register
):
    candidate = register(name="candidate")

    confirmation = admin_session.get(_activate_url(candidate))

    assert confirmation.status_code == 200 and "Yes, activate v2" in confirmation.content.decode()
    assert _statuses() == {1: "active", 2: "validated"}

    response = admin_session.post(_activate_url(candidate), follow=True)

    assert _statuses() == {1: "retired", 2: "active"}
    assert ModelActivation.objects.first().activated_by == model_admin
    assert "Now serving v2." in response.content.decode()


def test_activate_view_refuses_a_post_without_csrf_token(model_admin, register):
    version = register()
    client = Client(enforce_csrf_checks=True)
    sign_in(client, model_admin)

    assert client.post(_activate_url(version)).status_code == 403
    assert _statuses() == {1: "validated"}


def test_rollback_is_confirmed_then_returns_to_the_previous_version(admin_session, model_admin, register):
    assert "Roll back to" not in admin_session.get(CHANGELIST).content.decode()
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)
    services.model_version_activate(version=second, user=None)

    listing = admin_session.get(CHANGELIST).content.decode()
    confirmation = admin_session.get(ROLLBACK)

    assert f'href="{ROLLBACK}"' in listing and "Roll back to v1" in listing
    assert confirmation.status_code == 200 and "Yes, roll back to v1" in confirmation.content.decode()
    assert _statuses() == {1: "retired", 2: "active"}

    response = admin_session.post(ROLLBACK, follow=True)

    assert _statuses() == {1: "active", 2: "retired"}
    assert "Rolled back: now serving v1 again." in response.content.decode()
    latest = ModelActivation.objects.first()
    assert (latest.action, latest.activated_by) == ("rollback", model_admin)


def test_rollback_page_without_a_previous_version_changes_nothing(admin_session, active_version):
    response = admin_session.get(ROLLBACK, follow=True)
    admin_session.post(ROLLBACK)

    assert "no previously active version" in response.content.decode()
    assert _statuses() == {1: "active"} and ModelActivation.objects.count() == 1


def test_rejected_version_has_no_activate_button_and_cannot_be_activated_through_its_url(
    admin_session, active_version, register, small_pipelines
):
    rejected = register(pipelines={"A": small_pipelines["A"]})

    page = admin_session.get(_page_url(rejected)).content.decode()
    confirmation = admin_session.get(_activate_url(rejected), follow=True).content.decode()
    refused = admin_session.post(_activate_url(rejected), follow=True).content.decode()

    assert rejected.status == "rejected" and "Activate this version" not in page
    assert "is rejected and cannot be activated" in confirmation and "Yes, activate" not in confirmation
    assert "Not activated: v2 was rejected and cannot be activated" in refused
    assert _statuses() == {1: "active", 2: "rejected"} and ModelActivation.objects.count() == 1


def test_active_version_has_no_activate_button(admin_session, active_version):
    page = admin_session.get(_page_url(active_version)).content.decode()

    assert 'id="validation-report"' in page and "Activate this version" not in page


def test_rejected_versions_are_listed_with_their_reason_and_filtered_by_status(admin_session, register, small_pipelines):
    register(name="kept")
    register(name="broken", pipelines={"A": small_pipelines["A"]})

    rejected_only = admin_session.get(CHANGELIST, {"status__exact": "rejected"}).content.decode()

    assert "broken" in rejected_only and "kept" not in rejected_only
    assert "does not serve setup(s) B, C" in rejected_only


def test_version_page_lists_its_activations(admin_session, model_admin, register):
    first, second = register(), register()
    services.model_version_activate(version=first, user=model_admin)
    services.model_version_activate(version=second, user=None)
    services.model_version_rollback(user=model_admin)

    page = admin_session.get(_page_url(first)).content.decode()

    history = page[page.index("Activation history"):]
    assert history.count('<td class="field-what">') == 2
    assert "rolled back to" in history and "v2 small" in history and model_admin.username in history


@pytest.mark.parametrize("url", [CHANGELIST, UPLOAD, ROLLBACK, "activate"])
def test_a_teacher_is_sent_to_the_admin_login_from_every_model_page(client, user, active_version, url):
    client.force_login(user)
    url = _activate_url(active_version) if url == "activate" else url

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 302 and response.url.startswith(f"{ADMIN_LOGIN}?next=")
    assert _statuses() == {1: "active"}


def test_staff_without_model_admin_rights_gets_403_and_no_buttons(client, staff, register, good_package):
    first, second = register(), register()
    services.model_version_activate(version=first, user=None)

    listing = client.get(CHANGELIST).content.decode()
    services.model_version_activate(version=second, user=None)

    assert "Upload a model" not in listing
    assert "Activate this version" not in client.get(_page_url(first)).content.decode()
    assert client.get(UPLOAD).status_code == 403
    assert client.post(UPLOAD, {"file": SimpleUploadedFile("m.skops", good_package), "name": "x"}).status_code == 403
    assert client.get(_activate_url(first)).status_code == 403 and client.post(_activate_url(first)).status_code == 403
    assert client.get(ROLLBACK).status_code == 403 and client.post(ROLLBACK).status_code == 403
    assert _statuses() == {1: "retired", 2: "active"} and ModelVersion.objects.count() == 2


def test_version_page_says_which_setups_are_served_through_scikit_learn_without_calling_it_failed(
    admin_session, register, monkeypatch
):
    def unconvertible(pipeline, **kwargs):
        raise ApplicationError("The setup pipeline cannot be converted to ONNX: no converter")

    monkeypatch.setattr(compilation, "pipeline_to_onnx", unconvertible)
    version = register()

    page = admin_session.get(_page_url(version)).content.decode()

    assert version.status == "validated" and "Activate this version" in page
    assert '<tr class="informational">' in page and "not met (informational)" in page
    assert 'class="failed"' not in page
    assert "Setup B: served through scikit-learn: The setup pipeline cannot be converted" in page


# -- issue 19: the version page in words, confirmations, the challenger, the upload's limit and progress ---------

CHALLENGER_RETIRE = f"{CHANGELIST}challenger/retire/"


def _challenger_url(version: ModelVersion) -> str:
    return f"{CHANGELIST}{version.pk}/challenger/"


def _section(page: str, marker: str) -> str:
    start = page.index(marker)
    return page[start:page.index("</table>", start)]


def test_version_page_leads_with_cross_validated_figures_in_words_beside_the_active_versions(
    admin_session, register
):
    served = register(name="served", metrics=cross_validated_claims(71.234, 3.9))
    active = services.model_version_activate(version=served, user=None)
    candidate = register(name="candidate", metrics=cross_validated_claims(74.567, 3.456))

    page = admin_session.get(_page_url(candidate)).content.decode()

    assert page.index('id="cross-validated"') < page.index('id="validation-report"') < page.index('id="figures"')
    table = _section(page, 'id="cross-validated"')
    assert "v2 candidate" in table and f"v{active.version} served (active)" in table
    assert "A: when both period grades are known" in table and "C: when no period grade is known yet" in table
    assert "Pass/fail accuracy" in table and "74.6%" in table and "71.2%" in table
    assert "3.46" in table and "3.90" in table and "90.3%" in table and "12.3" in table and "0.200" in table
    assert "2 run(s) of 5-fold cross-validation" in page
    assert "Measured on the training data (optimistic)" in page and "On the training data (optimistic)" in page


def test_version_page_says_cross_validated_figures_and_training_data_are_not_recorded_for_older_versions(
    admin_session, register
):
    version = register(name="older")

    page = admin_session.get(_page_url(version)).content.decode()

    assert "Not recorded: the version does not state cross-validated figures." in page
    assert 'id="training-data-not-recorded"' in page and 'id="training-data"' not in page


def test_version_page_shows_the_training_data_it_was_trained_on(admin_session, register):
    version = register(name="retrained")
    ModelVersion.objects.filter(pk=version.pk).update(training_data={
        "rows": 512, "sources": {"uci": 395, "school": 117}, "outcomes_from": "2026-01-10",
        "outcomes_to": "2026-07-01", "sha256": "ab" * 32, "exported_at": "2026-12-01T08:30:00+00:00",
    })

    page = admin_session.get(_page_url(version)).content.decode()

    table = _section(page, 'id="training-data"')
    assert "512: 395 from the UCI data set, 117 of this school's students" in table
    assert "from 10 Jan 2026 to 1 Jul 2026" in table and "ab" * 32 in table and "1 Dec 2026" in table
    assert "training-data-not-recorded" not in page


def test_version_page_offers_activation_only_through_the_confirmation_page(admin_session, active_version, register):
    candidate = register(name="candidate")

    page = admin_session.get(_page_url(candidate)).content.decode()

    assert f'href="{_activate_url(candidate)}"' in page and "Activate this version…" in page
    assert f'action="{_activate_url(candidate)}"' not in page  # no form that activates in one click


def test_activation_confirmation_shows_both_versions_figures_and_who_will_be_recorded(
    admin_session, model_admin, register
):
    served = register(name="served", metrics=cross_validated_claims(71.234, 3.9))
    services.model_version_activate(version=served, user=None)
    candidate = register(name="candidate", metrics=cross_validated_claims(74.567, 3.456))

    page = admin_session.get(_activate_url(candidate)).content.decode()

    assert "Now serving: <a" in page and "v1 served (active)" in page and "Will serve: <a" in page
    assert f"Recorded in the activation history as done by: {model_admin.username}" in page
    table = _section(page, 'id="cross-validated"')
    assert "74.6%" in table and "71.2%" in table
    assert _statuses() == {1: "active", 2: "validated"}


def test_model_admin_makes_a_challenger_through_its_confirmation_then_retires_it(
    admin_session, model_admin, active_version, register
):
    candidate = register(name="candidate")
    page = admin_session.get(_page_url(candidate)).content.decode()
    assert f'href="{_challenger_url(candidate)}"' in page and "Make challenger…" in page

    confirmation = admin_session.get(_challenger_url(candidate)).content.decode()

    assert "scores every prediction the active\nversion serves, in shadow" in confirmation
    assert "Challenger now: none" in confirmation and f"Recorded as set by: {model_admin.username}" in confirmation
    assert 'id="cross-validated"' in confirmation and "Yes, make v2 the challenger" in confirmation
    assert not ModelVersion.objects.filter(is_challenger=True).exists()

    response = admin_session.post(_challenger_url(candidate), follow=True)

    candidate.refresh_from_db()
    assert candidate.is_challenger and candidate.challenger_set_by == model_admin
    page = response.content.decode()
    assert "Version 2 is now the challenger: it scores every prediction in shadow." in page
    assert 'id="challenger-status"' in page
    assert "Retire challenger" in page and "Make challenger" not in page

    response = admin_session.post(CHALLENGER_RETIRE, follow=True)

    candidate.refresh_from_db()
    assert not candidate.is_challenger
    assert "Version 2 is no longer the challenger: shadow scoring has stopped." in response.content.decode()


def test_challenger_errors_are_shown_as_admin_messages_and_change_nothing(
    admin_session, active_version, register, small_pipelines
):
    rejected = register(pipelines={"A": small_pipelines["A"]})

    page = admin_session.get(_page_url(rejected)).content.decode()
    confirmation = admin_session.get(_challenger_url(rejected), follow=True).content.decode()
    refused = admin_session.post(_challenger_url(rejected), follow=True).content.decode()
    active_refused = admin_session.post(_challenger_url(active_version), follow=True).content.decode()
    nothing_to_retire = admin_session.post(CHALLENGER_RETIRE, follow=True).content.decode()

    assert "Make challenger" not in page
    assert "Version 2 is rejected and cannot be made the challenger." in confirmation
    assert 'class="error"' in refused
    assert "Not made the challenger: v2 is rejected and cannot be the challenger" in refused
    assert "Not made the challenger: v1 is active and cannot be the challenger" in active_refused
    assert "There is no challenger to retire." in nothing_to_retire
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


def test_challenger_retire_is_post_only_and_both_challenger_views_need_the_csrf_token(
    model_admin, active_version, register
):
    candidate = register()
    services.model_version_challenger_set(version=candidate, user=None)
    client = Client(enforce_csrf_checks=True)
    sign_in(client, model_admin)

    assert client.get(CHALLENGER_RETIRE).status_code == 405
    assert client.post(CHALLENGER_RETIRE).status_code == 403
    assert client.post(_challenger_url(active_version)).status_code == 403
    candidate.refresh_from_db()
    assert candidate.is_challenger


def test_staff_without_model_admin_rights_cannot_make_or_retire_a_challenger(client, staff, active_version, register):
    candidate, challenger = register(), register()
    services.model_version_challenger_set(version=challenger, user=None)

    page = client.get(_page_url(challenger)).content.decode()

    assert "Make challenger" not in client.get(_page_url(candidate)).content.decode()
    assert "Retire challenger" not in page
    assert client.get(_challenger_url(candidate)).status_code == 403
    assert client.post(_challenger_url(candidate)).status_code == 403
    assert client.post(CHALLENGER_RETIRE).status_code == 403
    assert list(ModelVersion.objects.filter(is_challenger=True)) == [challenger]


@pytest.mark.parametrize("url", ["challenger", CHALLENGER_RETIRE])
def test_a_teacher_is_sent_to_the_admin_login_from_the_challenger_pages(client, user, active_version, register, url):
    candidate = register()
    client.force_login(user)
    url = _challenger_url(candidate) if url == "challenger" else url

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 302 and response.url.startswith(f"{ADMIN_LOGIN}?next=")
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


def test_upload_page_states_the_limit_beside_the_field(admin_session, settings):
    settings.MODEL_UPLOAD_MAX_BYTES = 100 * 1024 * 1024

    page = admin_session.get(UPLOAD).content.decode()

    assert 'id="id_file_helptext">A .skops package, as written by export_model; at most 100.0\xa0MB.' in page
    assert 'data-max-bytes="104857600"' in page and "js/upload-progress.js" in page


def test_the_default_upload_limit_leaves_room_for_the_45_mb_package():
    from django.conf import settings

    assert settings.MODEL_UPLOAD_MAX_BYTES >= 2 * 45 * 1024 * 1024 or "MODEL_UPLOAD_MAX_BYTES" in os.environ


def test_an_upload_sent_by_the_progress_script_gets_the_version_page_address_and_keeps_the_message(
    admin_session, active_version, good_package
):
    response = _upload(admin_session, good_package, name="candidate", headers={"X-Requested-With": "XMLHttpRequest"})

    uploaded = ModelVersion.objects.get(version=2)
    assert response.status_code == 200 and response.json() == {"location": _page_url(uploaded)}
    page = admin_session.get(_page_url(uploaded)).content.decode()
    assert "Version 2 passed validation and can be activated." in page


def test_an_upload_over_the_limit_sent_by_the_progress_script_gets_the_form_with_the_error(admin_session, settings):
    settings.MODEL_UPLOAD_MAX_BYTES = 1000

    response = _upload(admin_session, b"x" * 1001, headers={"X-Requested-With": "XMLHttpRequest"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert 'id="content-main"' in response.content.decode() and "at most 1000" in response.content.decode()
    assert not ModelVersion.objects.exists()
