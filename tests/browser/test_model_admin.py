"""A model administrator, in a real browser: uploads a model, reads its validation report, activates it and
rolls back; a teacher who types an admin address gets the admin's login page instead."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from modelstore import services
from modelstore.models import ModelVersion
from modelstore.selectors import model_version_active_find

VERSIONS = "/admin/modelstore/modelversion/"


def test_model_admin_uploads_activates_and_rolls_back(page, log_in, make_user, active_version, tmp_path, screenshot):
    make_user("modeladmin", "model_admin")
    package = services.model_version_export(version=active_version, out_path=tmp_path / "candidate.skops")
    log_in(page, "modeladmin")

    page.get_by_role("navigation").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Model versions").first.click()
    page.get_by_role("link", name="Upload a model").click()
    page.get_by_label("Name").fill("candidate")
    page.locator("input[type=file]").set_input_files(str(package))
    screenshot(page, "admin-upload")
    page.get_by_role("button", name="Upload and validate").click()

    report = page.locator("#validation-report")
    expect(report).to_be_visible()
    expect(report.locator("tr.failed")).to_have_count(0)
    expect(report.locator("tr.passed")).to_have_count(7)
    screenshot(page, "admin-validation-report")
    candidate = ModelVersion.objects.get(name="candidate")
    assert candidate.status == "validated"

    page.get_by_role("button", name="Activate this version").click()
    expect(page.get_by_text(f"v{candidate.version}").first).to_be_visible()
    assert model_version_active_find().pk == candidate.pk

    page.goto(VERSIONS)
    page.get_by_role("link", name=f"Roll back to v{active_version.version}").click()
    expect(page.get_by_text("Now serving")).to_be_visible()
    screenshot(page, "admin-rollback-confirm")
    page.get_by_role("button", name=f"Yes, roll back to v{active_version.version}").click()
    expect(page).to_have_url(re.compile(re.escape(VERSIONS)))
    assert model_version_active_find().pk == active_version.pk
    screenshot(page, "admin-model-versions")


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
