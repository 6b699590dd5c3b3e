"""A model administrator's second factor in a real browser: enrolment on the first login (the secret typed by hand
instead of scanning), the recovery codes, then later logins with the app's code and with a recovery code."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD, totp_code


def password_login(page, username: str, next_url: str = "") -> None:
    page.goto(f"/accounts/login/?next={next_url}" if next_url else "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def log_out(page) -> None:
    page.get_by_role("button", name=re.compile("Log out")).first.click()
    expect(page).to_have_url(re.compile("/accounts/login/"))


def test_model_admin_enrols_then_logs_in_with_a_code_and_with_a_recovery_code(page, make_user, screenshot):
    make_user("modeladmin", "model_admin")

    password_login(page, "modeladmin", next_url="/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/\?next=%2Fadmin%2F$"))
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(page.locator(".qr-code svg")).to_be_visible()
    screenshot(page, "two-factor-setup")
    secret = page.locator("#totp-secret").inner_text()

    page.get_by_label("Code").fill("000000" if totp_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.wait_for_timeout(1100)  # the throttle after one wrong code: one second
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="studentperf administration", level=1)).to_be_visible()
    log_out(page)

    password_login(page, "modeladmin")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/\?next=%2F$"))
    page.get_by_label("Code").fill(totp_code(secret, steps_ahead=1))  # the enrolment used this step's code
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("link", name="Recovery codes")).to_be_visible()
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="studentperf administration", level=1)).to_be_visible()
    log_out(page)

    for attempt in ("once", "twice"):
        password_login(page, "modeladmin", next_url="/admin/")
        page.get_by_label("Code").fill(codes[0])
        page.get_by_role("button", name="Verify").click()
        if attempt == "once":
            expect(page.get_by_role("heading", name="studentperf administration", level=1)).to_be_visible()
            log_out(page)
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/\?next=%2Fadmin%2F$"))


def test_a_teacher_logs_in_with_the_password_alone(page, make_user):
    make_user("teacher")

    password_login(page, "teacher")

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("link", name="Recovery codes")).to_have_count(0)
