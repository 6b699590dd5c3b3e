"""What readiness means for this process (a web process or a Celery worker): the database answers, then each
check of settings.READINESS_CHECKS passes (the apps' own, e.g. the active model is loaded).

The ground floor imports no app: a check is a dotted path to a callable that returns a dict merged into the
answer, or raises ApplicationError(kind="unavailable") whose `fields` name what is down.
"""
from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils.module_loading import import_string

from studentperf.errors import ApplicationError


def readiness_check() -> dict:
    """{"database": "ok", **what each READINESS_CHECKS entry returns}, e.g. "model_version" and "engines".

    Raises ApplicationError(kind="unavailable") whose `fields` name the check that failed.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        message = f"The database does not answer ({type(exc).__name__})."
        raise ApplicationError(message, kind="unavailable", fields={"database": [message]}) from exc
    body = {"database": "ok"}
    for path in settings.READINESS_CHECKS:
        body.update(import_string(path)())
    return body
