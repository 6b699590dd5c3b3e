"""API keys: created by command, service or admin, shown once, stored as a hash, revocable."""
from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.access.api_keys import api_key_create, api_key_revoke
from predictions.models import ApiKey
from studentperf.errors import ApplicationError

pytestmark = pytest.mark.django_db
KEY = re.compile(r"^([A-Za-z0-9]{8})\.[A-Za-z0-9]{32}$", re.MULTILINE)


def create_api_key(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def models_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get("/api/v1/models").status_code


def test_command_prints_a_key_that_authenticates_and_stores_only_its_hash():
    out, err = create_api_key("school system", "--scopes", "read,predict")
    key = KEY.search(out).group(0)
    assert "only this once" in err
    api_key = ApiKey.objects.get()
    assert api_key.name == "school system" and api_key.scopes == ["predict", "read"]
    assert api_key.prefix == key.split(".")[0] and api_key.expiry_date is None
    assert models_status(key) == 200
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        stored = " ".join(map(str, cursor.fetchall()))
    assert key.split(".")[1] not in stored
    assert api_key.hashed_key.startswith("sha512$$")


def test_command_defaults_to_predict_and_read_scopes():
    create_api_key("default scopes")
    assert ApiKey.objects.get().scopes == ["predict", "read"]


def test_command_sets_the_expiry():
    out, _ = create_api_key("short-lived", "--scopes", "read", "--expires", "30")
    expiry = ApiKey.objects.get().expiry_date
    assert timedelta(days=29, hours=23) < expiry - timezone.now() <= timedelta(days=30)
    assert "expires" in out


@pytest.mark.parametrize(
    "args, named",
    [
        (["x", "--scopes", "read,admin"], "admin"),
        (["x", "--scopes", ","], "scopes"),
        (["x", "--expires", "0"], "expires_days"),
        (["   "], "name"),
    ],
)
def test_command_refuses_bad_input_and_names_it(args, named):
    with pytest.raises(CommandError, match=named):
        create_api_key(*args)
    assert not ApiKey.objects.exists()


def test_service_refuses_unknown_scopes_naming_them():
    with pytest.raises(ApplicationError) as caught:
        api_key_create(name="x", scopes=["read", "delete"])
    assert "delete" in caught.value.fields["scopes"][0]


def test_revoking_a_key_locks_it_out_for_good():
    api_key, key = api_key_create(name="x", scopes=["read"])
    assert models_status(key) == 200
    api_key_revoke(api_key=api_key)
    assert models_status(key) == 401
    stored = ApiKey.objects.get(pk=api_key.pk)
    stored.revoked = False
    with pytest.raises(ValidationError, match="cannot be undone"):
        stored.save()


def test_admin_creates_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        "/admin/predictions/apikey/add/", {"name": "from admin", "scopes": ["predict", "read"]}, follow=True
    )
    assert response.status_code == 200
    message = " ".join(str(m) for m in response.context["messages"])
    key = re.search(r"is: ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})\. ", message).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.scopes == ["predict", "read"]
    assert models_status(key) == 200
    assert key not in admin_client.get(f"/admin/predictions/apikey/{api_key.pk}/change/").content.decode()


def test_admin_lists_keys_and_revokes_the_selected(admin_client):
    kept, _ = api_key_create(name="kept", scopes=["read"])
    revoked, key = api_key_create(name="to revoke", scopes=["read", "write"])
    listing = admin_client.get("/admin/predictions/apikey/").content.decode()
    assert "kept" in listing and revoked.prefix in listing
    admin_client.post("/admin/predictions/apikey/", {"action": "revoke", "_selected_action": [revoked.pk]})
    assert ApiKey.objects.get(pk=revoked.pk).revoked
    assert not ApiKey.objects.get(pk=kept.pk).revoked
    assert models_status(key) == 401


def test_admin_refuses_unknown_scopes(admin_client):
    response = admin_client.post("/admin/predictions/apikey/add/", {"name": "x", "scopes": ["root"]})
    assert response.status_code == 200 and not ApiKey.objects.exists()
