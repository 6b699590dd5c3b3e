"""The challenger (issue 19): one validated or retired version at a time scores the active one's traffic in shadow."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from modelstore import services
from modelstore.models import ModelVersion
from modelstore.selectors import model_version_challenger_find
from studentperf.errors import ApplicationError


def _challengers() -> list[int]:
    return list(ModelVersion.objects.filter(is_challenger=True).values_list("version", flat=True))


def test_a_validated_version_becomes_the_challenger_and_records_who_and_when(register, user):
    services.model_version_activate(version=register(), user=None)
    candidate = register()

    challenger = services.model_version_challenger_set(version=candidate, user=user)

    assert challenger.is_challenger and challenger.challenger_set_by == user and challenger.challenger_since
    assert model_version_challenger_find() == candidate and _challengers() == [2]


def test_one_challenger_at_a_time_a_new_one_replaces_the_old(register):
    services.model_version_activate(version=register(), user=None)
    first, second = register(), register()
    services.model_version_challenger_set(version=first, user=None)

    services.model_version_challenger_set(version=second, user=None)

    assert _challengers() == [3]
    first.refresh_from_db()
    assert first.challenger_since is None and first.status == "validated"


@pytest.mark.parametrize("status", ["active", "rejected"])
def test_the_active_or_a_rejected_version_cannot_be_the_challenger(register, status):
    version = register()
    reason = "bad" if status == "rejected" else ""
    ModelVersion.objects.filter(pk=version.pk).update(status=status, rejection_reason=reason)
    version.refresh_from_db()

    with pytest.raises(ApplicationError, match=f"is {status} and cannot be the challenger") as refused:
        services.model_version_challenger_set(version=version, user=None)

    assert refused.value.kind == "conflict" and _challengers() == []


def test_a_tampered_package_cannot_be_the_challenger(register, model_store_dir):
    version = register()
    (model_store_dir / version.artifact_file).write_bytes(b"not the package")

    with pytest.raises(ApplicationError, match="cannot be the challenger, its stored package was refused"):
        services.model_version_challenger_set(version=version, user=None)
    assert _challengers() == []


def test_promoting_the_challenger_is_the_normal_activation_and_ends_the_shadow(register, user):
    services.model_version_activate(version=register(), user=None)
    challenger = services.model_version_challenger_set(version=register(), user=None)

    promoted = services.model_version_activate(version=challenger, user=user)

    assert promoted.status == "active" and not promoted.is_challenger and promoted.challenger_since is None
    assert model_version_challenger_find() is None


def test_retiring_the_challenger_stops_the_role_and_is_idempotent(register, user):
    services.model_version_challenger_set(version=register(), user=None)

    retired = services.model_version_challenger_retire(user=user)

    assert retired.version == 1 and _challengers() == []
    assert services.model_version_challenger_retire(user=user) is None


def test_the_database_refuses_two_challengers_or_an_active_challenger(db):
    for number in (1, 2):
        ModelVersion.objects.create(version=number, name=f"v{number}")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.update(is_challenger=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(version=1).update(is_challenger=True, status="active")
    assert _challengers() == []
