"""The challenger in shadow (issue 19): every prediction the active version serves is scored again by the
challenger, off the request path. predictions_serve queues one task per request or batch chunk once its rows
are committed (shadow_queue); a Celery worker scores their records with the challenger and writes the
ShadowPrediction rows (shadow_predictions_score). Nothing here can change or delay an answer served: a failure
is logged and counted (studentperf_shadow_predictions_total), never raised to the requester."""
from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Sequence

from django.conf import settings

from modelstore.challenger import challenger_model_get
from modelstore.ml.inference import predict_records
from predictions.models import Prediction, ShadowPrediction
from studentperf import metrics
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)

# After the broker refused a message, this process queues none for this long: each attempt could wait for a
# connection timeout inside a request, and the shadow is not worth a slower answer.
SEND_PAUSE_SECONDS = 30
_paused_until = -math.inf


def shadow_queue(*, prediction_ids: Sequence[uuid.UUID], challenger_id: int) -> bool:
    """Queue the scoring of these committed predictions by the challenger: one message, no retry. False (logged,
    counted "not_queued") when the broker refuses it or refused one less than SEND_PAUSE_SECONDS ago."""
    global _paused_until
    from predictions.tasks import shadow_predictions_score as score_task

    if time.monotonic() < _paused_until:
        metrics.shadow_predictions_observe(outcome="not_queued", count=len(prediction_ids))
        return False
    try:
        score_task.apply_async(args=([str(pk) for pk in prediction_ids], challenger_id), retry=False)
    except Exception:  # kombu's OperationalError, a connection refused mid-publish: the answer is served anyway
        _paused_until = time.monotonic() + SEND_PAUSE_SECONDS
        logger.warning("shadow scoring not queued", exc_info=True,
                       extra={"model_version_id": challenger_id, "predictions": len(prediction_ids)})
        metrics.shadow_predictions_observe(outcome="not_queued", count=len(prediction_ids))
        return False
    return True


def shadow_predictions_score(*, prediction_ids: Sequence[str], challenger_id: int) -> int:
    """Score the records of these served predictions with the challenger `challenger_id` and store one
    ShadowPrediction each; returns how many were written. Safe to run twice (the rows already written are
    skipped); nothing when the version is no longer the challenger (retired or promoted since). A refused
    package or a failing model is logged and counted "failed"; a database error is raised for a retry."""
    try:
        loaded = challenger_model_get(version_id=challenger_id)
    except ApplicationError as exc:
        return _failed(challenger_id=challenger_id, count=len(prediction_ids), reason=exc.message)
    if loaded is None:
        return 0
    done = ShadowPrediction.objects.filter(model_version_id=challenger_id, prediction_id__in=prediction_ids)
    rows = list(
        Prediction.objects.filter(pk__in=prediction_ids).exclude(pk__in=done.values("prediction_id"))
        .order_by().values_list("pk", "input")
    )
    if not rows:
        return 0
    try:
        outputs = predict_records(
            loaded.predictors, [record for _, record in rows],
            coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=settings.TOP_FACTORS,
        )
    except Exception as exc:  # noqa: BLE001 (any model error: the served answers stand, the shadow is lost)
        return _failed(challenger_id=challenger_id, count=len(rows), reason=repr(exc))
    shadows = [
        ShadowPrediction(
            prediction_id=pk, model_version=loaded.version, setup=output["setup"],
            predicted_grade=float(output["predicted_grade"]), pass_probability=float(output["pass_probability"]),
            interval_low=float(output["interval"]["low"]), interval_high=float(output["interval"]["high"]),
            interval_coverage=float(output["interval"]["coverage"]),
        )
        for (pk, _), output in zip(rows, outputs, strict=True)
    ]
    ShadowPrediction.objects.bulk_create(shadows, ignore_conflicts=True)  # a concurrent run of the same message
    metrics.shadow_predictions_observe(outcome="scored", count=len(shadows))
    return len(shadows)


def _failed(*, challenger_id: int, count: int, reason: str) -> int:
    logger.error("shadow scoring failed", extra={"model_version_id": challenger_id, "predictions": count,
                                                 "reason": reason})
    metrics.shadow_predictions_observe(outcome="failed", count=count)
    return 0
