"""Static files are served by the app itself in production (whitenoise), never from a CDN."""
from __future__ import annotations

import re

from django.core.management import call_command
from django.test import Client


def test_stylesheet_is_served_by_whitenoise_after_collectstatic_with_debug_off(settings, tmp_path, db):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", interactive=False, verbosity=0)

    response = Client().get("/static/css/studentperf.css")  # a new client builds the middleware afresh

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b".risk-high" in b"".join(response.streaming_content)


def test_pages_load_nothing_from_other_hosts(client, user, active_version):
    client.force_login(user)
    for path in ("/", "/students/new/", "/predictions/new/", "/accounts/password_change/"):
        html = client.get(path).content.decode()
        external = re.findall(r'(?:src|href)="((?:https?:)?//[^"]+)"', html)
        assert external == [], f"{path} loads {external}"
