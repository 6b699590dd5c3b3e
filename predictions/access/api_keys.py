"""API keys: create (the key is returned once, only its hash is stored) and revoke."""
from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from predictions.access.credentials import credential_problems
from predictions.models import ApiKey
from studentperf.errors import ApplicationError


def api_key_create(*, name: str, scopes: list[str], expires_days: int | None = None) -> tuple[ApiKey, str]:
    """A new key with these scopes, expiring after `expires_days` days (never when None).

    Returns the row and the key itself, which is not stored anywhere: show it once.
    """
    name = name.strip()
    problems = credential_problems(
        kind="key", name=name, name_max=ApiKey._meta.get_field("name").max_length, scopes=scopes, allowed=ApiKey.SCOPES
    )
    if expires_days is not None and expires_days < 1:
        problems["expires_days"] = ["Must be 1 or more days."]
    if problems:
        raise ApplicationError("The API key cannot be created.", fields=problems)
    expiry = timezone.now() + timedelta(days=expires_days) if expires_days is not None else None
    scopes = [scope for scope in ApiKey.SCOPES if scope in scopes]  # canonical order, no duplicates
    return ApiKey.objects.create_key(name=name, scopes=scopes, expiry_date=expiry)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good; requests with it get 401 from now on."""
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


def api_key_revoke_many(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke every key of `keys` not yet revoked; the number revoked."""
    return keys.filter(revoked=False).update(revoked=True)
