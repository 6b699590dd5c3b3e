"""A model administrator, in a real browser: uploads a model (watching it being sent, then validated), reads its
cross-validated figures and validation report, activates it through the confirmation page, rolls back, makes a
version the challenger and retires it, queues a retraining (or is told why it was not queued); a teacher who types
an admin address gets the admin's login page instead."""
from __future__ import annotations

import json
import re

import pytest
import redis
from playwright.sync_api import expect

from modelstore import services, storage
from modelstore.models import ModelVersion
from modelstore.retraining import MIN_MEASURED_ROWS
from modelstore.selectors import model_version_active_find, model_version_challenger_find
from tests.browser.conftest import DESKTOP, TIMEOUT_MS
from tests.browser.test_accessibility import _violations
from tests.browser.test_admin_lists import CLIPPED, PHONE
from tests.integration.conftest import celery_app_pointed_at, free_port, redis_server  # noqa: F401 (fixture)
from tests.modelstore.helpers import cross_validated_claims
from tests.predictions.retraining.conftest import graded  # noqa: F401 (fixture used by name)

VERSIONS = "/admin/modelstore/modelversion/"


def _slow_uploads(page, bytes_per_second: int) -> None:
    """Chromium's own network throttling (DevTools protocol): the file takes seconds to send, as on a school's line."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second,
    })


def test_model_admin_uploads_activates_and_rolls_back(
    page, log_in, make_user, active_version, small_pipelines, tmp_path, screenshot
):
    make_user("modeladmin", "model_admin")
    ModelVersion.objects.filter(pk=active_version.pk).update(
        metrics={**active_version.metrics, **cross_validated_claims(70.9, 3.95)}
    )
    package = tmp_path / "candidate.skops"
    package.write_bytes(storage.package_dumps(small_pipelines, {"metrics": cross_validated_claims(73.4, 3.61)}))
    log_in(page, "modeladmin")

    page.get_by_role("navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Model versions").first.click()
    page.get_by_role("link", name="Upload a model").click()
    expect(page.locator("#id_file_helptext")).to_contain_text("at most 100.0")
    page.get_by_label("Name").fill("candidate")
    page.locator("input[type=file]").set_input_files(str(package))
    screenshot(page, "admin-upload")
    _slow_uploads(page, max(package.stat().st_size // 4, 1))  # about 4 s to send
    page.get_by_role("button", name="Upload and validate").click()

    status = page.locator("#upload-status")
    expect(status).to_contain_text(re.compile(r"Sending the file: [\d.]+ MB of [\d.]+ MB \([1-9]\d? %\)"))  # under way
    expect(page.get_by_role("button", name="Upload and validate")).to_be_disabled()
    screenshot(page, "admin-upload-progress")
    expect(status).to_contain_text("Validating…")

    report = page.locator("#validation-report")
    expect(report).to_be_visible()
    expect(page.locator(".messagelist")).to_contain_text("passed validation and can be activated")
    expect(report.locator("tr.failed")).to_have_count(0)
    expect(report.locator("tr.passed")).to_have_count(7)
    candidate = ModelVersion.objects.get(name="candidate")
    assert candidate.status == "validated"
    # The page reads cross-validated figures first, in words, beside the active version's.
    headings = [text.strip() for text in page.locator("#content h2").all_inner_texts()]
    assert headings.index("Cross-validated figures, beside the active version's") < headings.index(
        "Validation report") < headings.index("Training data") < headings.index("On the training data (optimistic)")
    figures = page.locator("#cross-validated")
    expect(figures).to_contain_text("Pass/fail accuracy")
    expect(figures.locator("thead")).to_contain_text(f"v{active_version.version} test-default (active)")
    expect(figures.locator("tbody tr").first).to_contain_text("73.4%")
    expect(figures.locator("tbody tr").first).to_contain_text("70.9%")
    screenshot(page, "admin-validation-report")

    page.get_by_role("link", name="Activate this version").click()
    expect(page.locator("#confirm-changes")).to_contain_text("activation history as done by: modeladmin")
    expect(page.locator("#cross-validated")).to_contain_text("73.4%")
    assert model_version_active_find().pk == active_version.pk  # the confirmation page changes nothing
    screenshot(page, "admin-activate-confirm")
    page.get_by_role("button", name=f"Yes, activate v{candidate.version}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Now serving v{candidate.version}.")
    assert model_version_active_find().pk == candidate.pk

    page.goto(VERSIONS)
    page.get_by_role("link", name=f"Roll back to v{active_version.version}").click()
    expect(page.get_by_text("Now serving")).to_be_visible()
    screenshot(page, "admin-rollback-confirm")
    page.get_by_role("button", name=f"Yes, roll back to v{active_version.version}").click()
    expect(page).to_have_url(re.compile(re.escape(VERSIONS)))
    assert model_version_active_find().pk == active_version.pk
    screenshot(page, "admin-model-versions")


def test_model_admin_makes_a_version_the_challenger_and_retires_it(
    page, log_in, make_user, active_version, small_pipelines, screenshot
):
    make_user("modeladmin", "model_admin")
    candidate = services.model_version_register(
        pipelines=small_pipelines, name="candidate", created_by=None,
        metrics=cross_validated_claims(73.4, 3.61),
    )
    log_in(page, "modeladmin")
    page.goto(f"{VERSIONS}{candidate.pk}/change/")

    page.get_by_role("link", name="Make challenger").click()
    expect(page.locator("#content-main")).to_contain_text("in shadow")
    expect(page.locator("#confirm-changes")).to_contain_text("Challenger now: none")
    expect(page.locator("#cross-validated")).to_contain_text("73.4%")
    screenshot(page, "admin-challenger-confirm")
    assert model_version_challenger_find() is None
    page.get_by_role("button", name=f"Yes, make v{candidate.version} the challenger").click()

    expect(page.locator(".messagelist")).to_contain_text("is now the challenger")
    expect(page.locator("#challenger-status")).to_contain_text("set by modeladmin")
    assert model_version_challenger_find().pk == candidate.pk
    page.get_by_role("button", name="Retire challenger").click()

    expect(page.locator(".messagelist")).to_contain_text("shadow scoring has stopped")
    expect(page.get_by_role("link", name="Make challenger")).to_be_visible()
    assert model_version_challenger_find() is None


def test_upload_errors_replace_the_form_and_the_next_try_is_sent_the_same_way(
    page, log_in, make_user, active_version, tmp_path
):
    make_user("modeladmin", "model_admin")
    package = services.model_version_export(version=active_version, out_path=tmp_path / "candidate.skops")
    log_in(page, "modeladmin")
    page.goto(VERSIONS + "upload/")
    page.locator("input[type=file]").set_input_files(str(package))
    page.get_by_role("button", name="Upload and validate").click()  # without a name

    expect(page.locator(".form-row.errors")).to_contain_text("This field is required.")
    expect(page.locator("#upload-progress-box")).to_be_hidden()
    assert not ModelVersion.objects.filter(version__gt=active_version.version).exists()
    page.get_by_label("Name").fill("second try")
    page.locator("input[type=file]").set_input_files(str(package))
    page.get_by_role("button", name="Upload and validate").click()

    expect(page.locator("#upload-status")).to_contain_text("Validating…")
    expect(page.locator(".messagelist")).to_contain_text("passed validation and can be activated")
    assert ModelVersion.objects.get(name="second try").status == "validated"


@pytest.fixture
def page_without_script(browser, live_server, roles):
    """Like `page`, in a browser with JavaScript turned off."""
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_upload_works_without_javascript(page_without_script, log_in, make_user, active_version, tmp_path):
    page = page_without_script
    make_user("modeladmin", "model_admin")
    package = services.model_version_export(version=active_version, out_path=tmp_path / "candidate.skops")
    log_in(page, "modeladmin")
    page.goto(VERSIONS + "upload/")
    page.get_by_label("Name").fill("plain form")
    page.locator("input[type=file]").set_input_files(str(package))
    expect(page.locator("#upload-progress-box")).to_be_hidden()
    page.get_by_role("button", name="Upload and validate").click()

    expect(page.locator(".messagelist")).to_contain_text("passed validation and can be activated")
    expect(page.locator("#validation-report tr.passed")).to_have_count(7)
    assert ModelVersion.objects.get(name="plain form").status == "validated"


def test_rejected_upload_shows_its_reason_and_cannot_be_activated(page, log_in, make_user, active_version, tmp_path):
    make_user("modeladmin", "model_admin")
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"PK\x03\x04 this is not a model")
    log_in(page, "modeladmin")
    page.goto(VERSIONS + "upload/")
    page.get_by_label("Name").fill("junk")
    page.locator("input[type=file]").set_input_files(str(junk))
    page.get_by_role("button", name="Upload and validate").click()

    expect(page.locator("#rejection-reason")).to_contain_text("Rejected")
    expect(page.get_by_role("button", name="Activate this version")).to_have_count(0)
    assert ModelVersion.objects.get(name="junk").status == "rejected"
    assert model_version_active_find().pk == active_version.pk


def test_teacher_typing_an_admin_address_gets_the_admin_login_not_the_form(page, log_in, make_user, active_version):
    make_user("teacher")
    log_in(page, "teacher")
    page.goto(VERSIONS + "upload/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("input[type=file]")).to_have_count(0)


def _retrain_page_checked(page, viewport) -> None:
    """The version list after the button: no table clipped, no sideways scrolling, no axe violation."""
    found = page.evaluate(CLIPPED, "#content")
    assert found["tables"] == [] and found["page"] <= 0, f"at {viewport['width']} px: {found}"
    assert _violations(page) == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_model_admin_queues_a_retraining_and_reads_what_happens_next(
    page, log_in, make_user, active_version, graded, redis_server, viewport, screenshot  # noqa: F811
):
    """No worker runs: the button's message goes into a real Redis and stays there, as it would until one starts."""
    make_user("modeladmin", "model_admin")
    graded(MIN_MEASURED_ROWS)
    redis_server.flush()
    page.set_viewport_size(viewport)
    log_in(page, "modeladmin")

    with celery_app_pointed_at(redis_server.url):
        page.goto(VERSIONS)
        page.get_by_role("button", name="Retrain from recorded outcomes").click()
        expect(page.locator(".messagelist .success")).to_have_text(
            "Retraining from recorded outcomes is queued: it takes a minute or two. The new version then appears in "
            "this list as the challenger (or rejected by validation, with the reason)."
        )

    expect(page).to_have_url(re.compile(re.escape(VERSIONS) + "$"))
    [message] = [json.loads(raw) for raw in redis.Redis.from_url(redis_server.url).lrange("celery", 0, -1)]
    assert message["headers"]["task"] == "predictions.tasks.model_retrain"
    assert not ModelVersion.objects.exclude(pk=active_version.pk).exists()  # nothing trained in the request
    _retrain_page_checked(page, viewport)
    if viewport is DESKTOP:
        screenshot(page, "admin-retrain-queued")
    redis_server.flush()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_with_the_queue_unreachable_the_button_says_so_and_how_to_retrain_anyway(
    page, log_in, make_user, active_version, graded, viewport  # noqa: F811
):
    make_user("modeladmin", "model_admin")
    graded(MIN_MEASURED_ROWS)
    page.set_viewport_size(viewport)
    log_in(page, "modeladmin")

    with celery_app_pointed_at(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        page.goto(VERSIONS)
        page.get_by_role("button", name="Retrain from recorded outcomes").click()
        expect(page.locator(".messagelist .error")).to_have_text(
            "Retraining could not be queued: the task queue (Redis) is not reachable. Try again later, or run "
            "`python manage.py retrain` on the server."
        )

    expect(page.get_by_role("button", name="Retrain from recorded outcomes")).to_be_visible()
    _retrain_page_checked(page, viewport)


def test_staff_without_the_model_admin_role_see_no_retrain_button(page, log_in, make_user, active_version):
    from django.contrib.auth.models import Permission

    staff = make_user("staff", None)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    staff.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    log_in(page, "staff")

    page.goto(VERSIONS)
    expect(page.locator("#result_list")).to_contain_text(f"v{active_version.version}")
    expect(page.get_by_role("button", name="Retrain from recorded outcomes")).to_have_count(0)
