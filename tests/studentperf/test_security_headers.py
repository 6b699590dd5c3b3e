"""Issue 18, attack 12: every response carries a strict Content-Security-Policy and a Permissions-Policy; the
templates hold nothing the policy would refuse. The browser side (no violation on the real pages, the admin's and
Swagger UI's scripts still working) is tests/browser/test_content_security_policy.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, RequestFactory

from studentperf.security_headers import ContentSecurityPolicyMiddleware, permissions_policy_header
from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}; fails if there is none."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.status_code} {response.get('Content-Type')}"
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_strict(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive]
        assert "*" not in policy[directive] and "data:" not in policy[directive]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "camera=()" in response.headers.get("Permissions-Policy", "")


@pytest.mark.django_db
@pytest.mark.urls("tests.studentperf.failing_urls")
@pytest.mark.parametrize(
    "path, status, content_type",
    [
        ("/accounts/login/", 200, "text/html"),  # a page
        ("/", 302, ""),  # a redirect (anonymous to the login page)
        ("/no-such-page/", 404, "text/html"),
        ("/api/v1/students", 401, "application/json"),  # API JSON, refused
        ("/api/v1/nothing-here", 404, "application/json"),
        ("/api/v1/schema", 200, "application/vnd.oai.openapi"),
        ("/api/v1/docs", 200, "text/html"),
        ("/health/live", 200, "application/json"),  # answered before the host checks
        ("/boom/", 500, "text/html"),
        ("/api/v1/boom", 500, "application/json"),
    ],
)
def test_every_kind_of_answer_carries_the_strict_policy(path, status, content_type):
    response = Client(raise_request_exception=False).get(path)

    assert response.status_code == status
    assert response.get("Content-Type", "").startswith(content_type)
    assert_strict(response)


@pytest.mark.django_db
def test_host_errors_carry_the_policy_too():
    for path in ("/accounts/login/", "/api/v1/students"):
        response = Client().get(path, HTTP_HOST="evil.example")
        assert response.status_code == 400
        assert_strict(response)


def test_static_files_carry_the_policy(settings, tmp_path, db):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)

    response = Client().get("/static/css/studentperf.css")  # a new client builds the middleware (whitenoise) afresh

    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.django_db
def test_a_logged_in_teacher_page_carries_the_policy_and_no_nonce_it_does_not_use(client, user, active_version):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert_strict(response)
    assert not any(source.startswith("'nonce-") for source in directives(response)["script-src"])


@pytest.mark.django_db
def test_upgrade_insecure_requests_only_on_answers_sent_over_https():
    # The test settings do not redirect to HTTPS, so the same page can be asked for both ways.
    plain = Client().get("/accounts/login/")
    secure = Client().get("/accounts/login/", secure=True)
    assert "upgrade-insecure-requests" not in directives(plain)
    assert directives(secure)["upgrade-insecure-requests"] == []


def test_a_template_that_uses_the_nonce_gets_it_in_the_policy():
    nonces = []

    def view(request):
        nonces.append(str(request.csp_nonce))
        return HttpResponse(f'<script nonce="{nonces[0]}">1</script>')

    response = ContentSecurityPolicyMiddleware(view)(RequestFactory().get("/"))

    policy = directives(response)
    assert f"'nonce-{nonces[0]}'" in policy["script-src"] and f"'nonce-{nonces[0]}'" in policy["style-src"]
    assert "'unsafe-inline'" not in policy["script-src"]


def test_permissions_policy_refuses_every_listed_feature():
    assert permissions_policy_header({"camera": [], "fullscreen": ["self", "https://a.example"]}) == (
        'camera=(), fullscreen=(self "https://a.example")'
    )
    assert all(origins == [] for origins in settings.PERMISSIONS_POLICY.values())
    assert {"camera", "microphone", "geolocation", "payment", "usb"} <= set(settings.PERMISSIONS_POLICY)


def test_swagger_ui_page_runs_no_inline_code_and_its_script_is_a_file(db):
    page = Client().get("/api/v1/docs")
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> on the docs page"
    assert "<style" not in html
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")

    script = Client().get(script_url)

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


# Markup a strict policy refuses: inline script and style, event-handler attributes, javascript: URLs.
INLINE = {
    "an inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "a <style> element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "a style= attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event-handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"'{]", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


@pytest.mark.parametrize("template", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_hold_nothing_the_policy_refuses(template):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert found == [], f"{template.relative_to(ROOT)} has {', '.join(found)}: move it to a file under static/"


def test_a_report_uri_is_added_when_set_and_a_malformed_one_refuses_to_start():
    env = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}
    show = "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['report-uri']"
    assert load_settings(env, show).stdout.strip() == "None"
    reported = load_settings({**env, "CSP_REPORT_URI": "https://reports.example/csp"}, show)
    assert reported.stdout.strip() == "https://reports.example/csp", reported.stderr
    bad = load_settings({**env, "CSP_REPORT_URI": "reports.example"}, show)
    assert bad.returncode != 0 and "CSP_REPORT_URI" in bad.stderr

