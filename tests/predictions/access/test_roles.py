"""predictions.access.roles: the role groups after migrations, creating accounts in a role, and reading an account's role."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from predictions.access.roles import MODEL_ADMIN, ROLE_PERMISSIONS, TEACHER, user_create, user_role
from studentperf.errors import ApplicationError

STRONG_PASSWORD = "kettle-harbour-violin-42"


@pytest.mark.parametrize("group_name", [TEACHER, MODEL_ADMIN])
def test_after_migrations_each_role_group_holds_exactly_its_permissions(db, group_name):
    group = Group.objects.get(name=group_name)

    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    assert held == set(ROLE_PERMISSIONS[group_name])


def test_a_new_teacher_is_in_the_teacher_group_and_not_staff(db):
    user = user_create(username="ana", password=STRONG_PASSWORD, role="teacher", email="ana@school.example")

    assert list(user.groups.values_list("name", flat=True)) == [TEACHER]
    assert not user.is_staff and not user.is_superuser and user.is_active
    assert user.email == "ana@school.example" and user.check_password(STRONG_PASSWORD)
    assert user.has_perm("predictions.add_outcome") and not user.has_perm("predictions.view_all_students")


def test_a_new_model_admin_is_in_the_model_admin_group_and_staff_for_the_admin(db):
    user = user_create(username="mo", password=STRONG_PASSWORD, role="model_admin")

    assert list(user.groups.values_list("name", flat=True)) == [MODEL_ADMIN]
    assert user.is_staff and not user.is_superuser
    assert user.has_perm("modelstore.change_modelversion") and not user.has_perm("predictions.add_outcome")


@pytest.mark.parametrize("password", ["short", "password123", "12345678901234", "ana-ana-ana"])
def test_a_weak_password_is_refused_naming_the_password_field(db, django_user_model, password):
    with pytest.raises(ApplicationError) as refused:
        user_create(username="ana-ana-ana", password=password, role="teacher")

    assert list(refused.value.fields) == ["password"] and refused.value.fields["password"]
    assert not django_user_model.objects.exists()


def test_a_taken_username_is_refused_naming_the_username_field(make_user):
    make_user("ana")

    with pytest.raises(ApplicationError) as refused:
        user_create(username="ana", password=STRONG_PASSWORD, role="model_admin")

    assert refused.value.kind == "conflict"
    assert refused.value.fields == {"username": ["is already taken"]}


def test_an_unknown_role_is_refused_naming_the_role_field(db):
    with pytest.raises(ApplicationError) as refused:
        user_create(username="ana", password=STRONG_PASSWORD, role="headteacher")

    assert list(refused.value.fields) == ["role"]


@pytest.mark.parametrize(
    "role, expected", [("teacher", "teacher"), ("model_admin", "model_admin"), ("superuser", "superuser"), (None, None)]
)
def test_user_role_names_the_role_an_account_holds(make_user, role, expected):
    assert user_role(user=make_user("someone", role)) == expected


def test_an_anonymous_visitor_has_no_role():
    assert user_role(user=AnonymousUser()) is None
