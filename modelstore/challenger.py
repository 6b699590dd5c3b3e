"""The challenger as a Celery worker sees it (issue 19): its package loaded once per process (the worker that
scores in shadow, predictions.shadow) and cached, keyed on the version's identity like the active one
(modelstore.loader). Serving a prediction never looks at the challenger."""
from __future__ import annotations

import threading

from modelstore import loader
from modelstore.loader import LoadedModel
from modelstore.models import ModelVersion
from studentperf.errors import ApplicationError

_lock = threading.Lock()
_loaded: LoadedModel | None = None


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
