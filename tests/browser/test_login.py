"""Logging in with the keyboard only, in a real browser."""
from __future__ import annotations

import re

from playwright.sync_api import expect


def test_anonymous_visitor_is_sent_to_login_and_back_after_keyboard_login(page, make_user, screenshot):
    make_user("ana")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    screenshot(page, "login")
    page.keyboard.press("Tab")  # the first stop is the skip link
    page.get_by_label("Username").focus()
    page.keyboard.type("ana")
    page.keyboard.press("Tab")
    page.keyboard.type("a-long-test-password")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def test_wrong_password_is_refused_with_a_message(page, make_user):
    make_user("ana")
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_text(re.compile("correct username and password", re.I))).to_be_visible()
