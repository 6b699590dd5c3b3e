from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from modelstore import services
from modelstore.models import ModelActivation, ModelVersion

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/modelstore/modelversion/"


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
    client.force_login(member)
    return member


def test_versions_are_listed_and_shown_read_only(admin_client, register):
    version = register(name="listed")

    listing = admin_client.get(CHANGELIST).content.decode()
    detail = admin_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert "listed" in listing and "validated" in listing
    assert 'name="_save"' not in detail and 'name="name"' not in detail
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{version.pk}/delete/").status_code == 403


def test_superuser_activates_and_rolls_back_through_the_actions(admin_client, admin_user, register):
    first, second = register(), register()

    _action(admin_client, "activate_selected", first)
    response = _action(admin_client, "activate_selected", second)
    assert "Now serving v2." in response.content.decode()
    assert ModelActivation.objects.first().activated_by == admin_user

    response = _action(admin_client, "roll_back", second)
    assert "Rolled back: now serving v1 again." in response.content.decode()
    assert _statuses() == {1: "active", 2: "retired"}


def test_action_errors_are_shown_and_change_nothing(admin_client, register, small_pipelines):
    active = services.model_version_activate(version=register(), user=None)
    rejected = register(pipelines={"A": small_pipelines["A"]})

    refused = _action(admin_client, "activate_selected", rejected).content.decode()
    two = _action(admin_client, "activate_selected", active, rejected).content.decode()
    no_previous = _action(admin_client, "roll_back", active).content.decode()

    assert "V2 was rejected and cannot be activated" in refused
    assert "Select exactly one version to activate." in two
    assert "V1 has no previously active version to roll back to." in no_previous
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

    assert _statuses() == {1: "active"} and ModelActivation.objects.get().activated_by == staff


def test_activation_history_is_read_only(admin_client, register):
    services.model_version_activate(version=register(), user=None)
    activation = ModelActivation.objects.get()

    assert admin_client.get("/admin/modelstore/modelactivation/").status_code == 200
    detail = admin_client.get(f"/admin/modelstore/modelactivation/{activation.pk}/change/").content.decode()
    assert 'name="_save"' not in detail
    assert admin_client.get(f"/admin/modelstore/modelactivation/{activation.pk}/delete/").status_code == 403
