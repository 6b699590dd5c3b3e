"""The main pages pass axe-core's automated WCAG 2.1 A/AA checks (contrast, labels, landmarks, names...).

Automated checks find only part of the problems; they guard against the common ones coming back.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.predictions.batches.support import broker  # noqa: F401 (fixture used by name)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _violations(page) -> list[str]:
    # Run through the DevTools protocol, not added to the page as an inline <script>, which the page's
    # Content-Security-Policy refuses.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("options => axe.run(document, options)", WCAG)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in result["violations"]
    ]


@pytest.fixture
def student(make_user, active_version, record):
    from predictions.services import outcome_record, prediction_create, student_create

    teacher = make_user("teacher")
    student = student_create(data={"external_id": "S-1", **record}, teacher=teacher)
    prediction_create(record=record, source="web", user=teacher, student=student)
    outcome_record(student=student, final_grade=8, user=teacher)
    return student


def test_login_page_has_no_accessibility_violations(page):
    page.goto("/accounts/login/")
    assert _violations(page) == []


def test_teacher_pages_have_no_accessibility_violations(page, log_in, student):
    log_in(page, "teacher")
    prediction = student.predictions.get()
    for path in ("/", f"/students/{student.pk}/", "/students/new/", f"/students/{student.pk}/edit/",
                 f"/predictions/{prediction.pk}/", "/predictions/new/", "/accounts/password_change/"):
        page.goto(path)
        assert _violations(page) == [], path


@pytest.fixture
def finished_batch(student, broker, record):  # noqa: F811
    """A batch job of the teacher's, run in-process: two rows predicted, one rejected."""
    from predictions.batches.services import batch_job_create, batch_job_process

    from tests.predictions.batches.support import csv_text

    rows = [record, {**record, "age": 99}, {**record, "G1": None, "G2": None}]
    job = batch_job_create(data=csv_text(rows).encode(), file_name="class.csv", source="web", user=student.teacher)
    return batch_job_process(job_id=job.pk)


def test_batch_pages_have_no_accessibility_violations(page, log_in, finished_batch):
    log_in(page, "teacher")
    for path in ("/batches/", "/batches/new/", f"/batches/{finished_batch.pk}/"):
        page.goto(path)
        assert _violations(page) == [], path


def test_monitoring_page_has_no_accessibility_violations(page, log_in, make_user, student):
    from predictions.monitoring.services import accuracy_check_run

    accuracy_check_run()
    make_user("modeladmin", "model_admin")
    log_in(page, "modeladmin")
    page.goto("/monitoring/accuracy/")
    assert _violations(page) == []


def test_form_with_errors_has_no_accessibility_violations(page, log_in, student):
    log_in(page, "teacher")
    page.goto("/students/new/")
    page.get_by_role("button", name="Add student and predict").click()  # everything empty: every field errs
    assert page.locator("#error-summary").is_visible()
    assert _violations(page) == []


def test_the_check_reports_a_field_without_a_label(page):
    """The harness itself: a page with an unlabelled input and low-contrast text fails it."""
    page.set_content('<html lang="en"><title>t</title><main><input type="text">'
                     '<p style="color:#ccc;background:#fff">faint</p></main></html>')
    found = " ".join(_violations(page))
    assert "label" in found and "color-contrast" in found
