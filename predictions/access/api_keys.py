"""API keys: create (the key is returned once, only its hash is stored), revoke, and record when each was last used."""
from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.signals import request_finished
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone

from predictions.access.credentials import credential_problems
from predictions.models import ApiKey
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)


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


# -- last used ---------------------------------------------------------------------------------------------------
# The admin's "last used" column. Authentication only notes the key (no query, no cache trip: the hot path stays
# as it was); after the response is sent (request_finished) the note is recorded, at most once per key and clock
# minute across every process: a cache add() of the minute's key is the gate, then one UPDATE. This process
# remembers the minutes it recorded, so most requests skip the cache too.
LAST_USED_WINDOW_SECONDS = 60
clock = time.time  # tests move it
_used: ContextVar[tuple[str, datetime] | None] = ContextVar("predictions_api_key_used", default=None)
_recorded_windows: dict[str, int] = {}  # key prefix -> the last minute window this process recorded or saw taken


def api_key_use_note(*, api_key: ApiKey) -> None:
    """Note that this request authenticated with `api_key` now; recorded after the response."""
    _used.set((api_key.prefix, timezone.now()))


def api_key_use_record(*, prefix: str, used_at: datetime) -> bool:
    """Store `used_at` as the last use of the key with this prefix (unique), unless a use was already stored in
    this minute window (by any process). True when it wrote."""
    window = int(clock() // LAST_USED_WINDOW_SECONDS)
    if _recorded_windows.get(prefix) == window:
        return False
    _recorded_windows[prefix] = window
    if not cache.add(f"api-key-used:{prefix}:{window}", 1, timeout=2 * LAST_USED_WINDOW_SECONDS):
        return False
    ApiKey.objects.filter(prefix=prefix).update(last_used=used_at)
    return True


@receiver(request_finished, dispatch_uid="predictions.access.api_key_last_used")
def _api_key_use_record_after_response(sender, **kwargs) -> None:
    used = _used.get()
    if used is None:
        return
    _used.set(None)
    try:
        api_key_use_record(prefix=used[0], used_at=used[1])
    except Exception:  # the answer is already sent; a missed "last used" must never turn into an error
        logger.warning("The last use of the API key %s could not be recorded.", used[0], exc_info=True)
