"""The challenger as a process sees it (issue 19): whether there is one, read at most every
CHALLENGER_CHECK_SECONDS so that serving a prediction adds no query, and its package loaded once per process
(in the Celery worker that scores in shadow) and cached, keyed on the version's identity like the active one
(modelstore.loader)."""
from __future__ import annotations

import math
import threading
import time

from django.conf import settings

from modelstore import loader
from modelstore.loader import LoadedModel
from modelstore.models import ModelVersion
from studentperf.errors import ApplicationError

_lock = threading.Lock()
_identity: tuple | None = None
_checked_at = -math.inf
_loaded: LoadedModel | None = None


def challenger_id_get() -> int | None:
    """The challenger's primary key, or None; read from the database (one small query) only once the last look
    is CHALLENGER_CHECK_SECONDS old (0: every call), and at once after challenger_recheck()."""
    global _identity, _checked_at
    now = time.monotonic()
    if now - _checked_at >= settings.CHALLENGER_CHECK_SECONDS:
        _identity = ModelVersion.objects.filter(is_challenger=True).values_list(*loader._IDENTITY_FIELDS).first()
        _checked_at = now
    return _identity[0] if _identity is not None else None


def challenger_recheck() -> None:
    """Make this process's next challenger_id_get read the database (after the challenger changed here)."""
    global _checked_at
    _checked_at = -math.inf


def challenger_model_get(*, version_id: int) -> LoadedModel | None:
    """The predictors of version `version_id` if it is still the challenger (its package loaded once per process,
    again only when another version or another package takes the role); None when it no longer is (retired,
    promoted). ApplicationError(kind="unavailable") when its package is refused."""
    global _loaded
    still = ModelVersion.objects.filter(pk=version_id, is_challenger=True)
    row = still.values_list(*loader._IDENTITY_FIELDS, "version").first()
    if row is None:
        return None
    identity, number = row[:-1], row[-1]
    with _lock:
        if _loaded is None or loader._identity(_loaded.version) != identity:
            _loaded = None  # the previous challenger is freed before the next one is loaded
            try:
                _loaded = loader._model_load(pk=version_id)
            except ApplicationError as exc:
                raise ApplicationError(
                    f"The challenger v{number} cannot be loaded: {exc.message}", kind="unavailable"
                ) from exc
        return _loaded
