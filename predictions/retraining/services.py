"""Retraining from recorded outcomes (issue 19): the school's rows handed to modelstore, or the run queued."""
from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from modelstore.retraining import RetrainResult, model_version_retrain
from predictions.retraining.selectors import retraining_rows
from predictions.retraining.texts import QUEUE_REFUSED
from studentperf import celery
from studentperf.errors import ApplicationError


def model_retrain(
    *, include_base_data: bool = False, activate_if_better: bool = False, user: AbstractBaseUser | None = None
) -> RetrainResult:
    """Train on the students with a current recorded final grade, register, measure, offer as the challenger."""
    return model_version_retrain(
        school=retraining_rows(), include_base_data=include_base_data, activate_if_better=activate_if_better,
        user=user,
    )


def model_retrain_queue(*, user: AbstractBaseUser | None, include_base_data: bool = False) -> None:
    """Queue a retraining on a worker (settings.MODEL_RETRAIN_QUEUE: the admin's button); ApplicationError
    (kind "unavailable") when the broker does not take it. Training never runs inside the request."""
    from predictions.tasks import model_retrain as model_retrain_task

    celery.broker_require(QUEUE_REFUSED)
    if not celery.task_send(model_retrain_task, getattr(user, "pk", None), include_base_data):
        raise ApplicationError(QUEUE_REFUSED, kind="unavailable")
