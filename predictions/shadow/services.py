"""The challenger in shadow (issue 19): every prediction the active version serves is scored again by the
challenger, entirely off the request path. Serving does nothing for the challenger; Celery beat queues a sweep of
the audit log every SHADOW_SWEEP_SECONDS (shadow_predictions_sweep), which scores the committed predictions the
challenger has not scored yet in bulk and writes their ShadowPrediction rows. Nothing here can change or delay an
answer served: a failure is logged (ids and counts, no student data) and counted
(studentperf_shadow_predictions_total), never raised to a requester."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, Max, OuterRef

from modelstore.challenger import challenger_model_get
from modelstore.loader import LoadedModel
from modelstore.ml.inference import predict_records
from modelstore.models import ModelVersion
from modelstore.selectors import model_version_challenger_find
from predictions.models import Prediction, ShadowPrediction
from studentperf import metrics
from studentperf.errors import ApplicationError

logger = logging.getLogger(__name__)

# A sweep stops taking new batches after this long, so that a backlog (a worker that was down, a burst of CSV
# batches) never holds a worker process from other tasks for long; the next sweep, SHADOW_SWEEP_SECONDS later,
# goes on where it stopped.
SHADOW_SWEEP_TIME_BUDGET = 30.0
# How far before the newest prediction already shadowed a sweep looks again: rows whose transaction committed
# late (a CSV chunk, a slow request), or whose web host's clock is behind, are still found, and a sweep never
# rescans months of rows.
SHADOW_SWEEP_LOOKBACK_SECONDS = 600
# One sweep at a time per installation (the cache is shared: Redis, or the database table). The lock outlives
# the time budget by this much, which covers the last batch a sweep finishes after its budget is spent.
LOCK_KEY = "shadow-sweep:lock"
LOCK_MARGIN_SECONDS = 60
# Predictions the challenger could not score even alone: skipped by later sweeps for a day, at most this many
# per challenger (the newest kept), so that one poison record never blocks the rest.
FAILED_KEY = "shadow-sweep:failed:{challenger_id}"
FAILED_KEEP_SECONDS = 24 * 3600
FAILED_KEEP_MAX = 1000

Row = tuple  # (prediction id, the record it served)


def shadow_predictions_sweep(*, batch_size: int | None = None, time_budget: float | None = None) -> int:
    """Score in shadow the committed predictions the challenger has not scored yet, oldest first, `batch_size`
    (SHADOW_SWEEP_BATCH) at a time, until none is left or `time_budget` (SHADOW_SWEEP_TIME_BUDGET) s are spent;
    returns the number of shadow rows written. Safe to run twice; a second sweep while one runs returns 0 at
    once, as does a sweep without a challenger (one query). A database error is raised (the next sweep goes on)."""
    challenger = model_version_challenger_find()
    if challenger is None:
        return 0
    budget = SHADOW_SWEEP_TIME_BUDGET if time_budget is None else time_budget
    lock_seconds = budget + LOCK_MARGIN_SECONDS
    if not cache.add(LOCK_KEY, challenger.pk, timeout=lock_seconds):
        return 0
    started = time.monotonic()
    try:
        written = _sweep(challenger, batch_size=batch_size or settings.SHADOW_SWEEP_BATCH, deadline=started + budget)
        if written:  # the sweeps that found nothing stay out of the log (studentperf.observability.routine_tasks)
            logger.info("shadow predictions scored",
                        extra={"model_version": challenger.version, "predictions": written})
        return written
    finally:
        if time.monotonic() - started < lock_seconds:  # else it expired, and may be another sweep's by now
            cache.delete(LOCK_KEY)


def _sweep(challenger: ModelVersion, *, batch_size: int, deadline: float) -> int:
    since = _window_start(challenger)
    skipped = _failed_ids(challenger.pk)
    loaded: LoadedModel | None = None
    written = 0
    while True:
        rows = _unscored(challenger, since=since, skipped=skipped, limit=batch_size)
        if not rows:
            return written
        if loaded is None:  # loaded only when there is something to score (cached per process)
            try:
                loaded = challenger_model_get(version_id=challenger.pk)
            except ApplicationError as exc:  # its package refused: counted once per sweep, tried again at the next
                _failed_log(challenger_id=challenger.pk, ids=(), count=len(rows), reason=exc.message)
                return written
            if loaded is None:  # retired or promoted since this sweep began
                return written
        done, failed = _rows_score(loaded, rows)
        written += done
        if failed:
            skipped = _failed_remember(challenger.pk, skipped=skipped, ids=failed)
        if len(rows) < batch_size or time.monotonic() >= deadline:
            return written


def _window_start(challenger: ModelVersion) -> datetime | None:
    """The oldest creation time a sweep looks at: when the challenger was set, or the newest prediction it has
    scored minus SHADOW_SWEEP_LOOKBACK_SECONDS, whichever is later."""
    # MAX(id) is one descent of the index on (model version, id) on PostgreSQL too, where ORDER BY id DESC LIMIT 1
    # walks the primary key back through every other version's rows (docs/performance.md).
    last_id = ShadowPrediction.objects.filter(model_version_id=challenger.pk).aggregate(last=Max("id"))["last"]
    newest = ShadowPrediction.objects.filter(pk=last_id).values_list("prediction__created_at", flat=True).first()
    bounds = [challenger.challenger_since]
    if newest is not None:
        bounds.append(newest - timedelta(seconds=SHADOW_SWEEP_LOOKBACK_SECONDS))
    bounds = [bound for bound in bounds if bound is not None]
    return max(bounds) if bounds else None


def _unscored(challenger: ModelVersion, *, since: datetime | None, skipped: set[str], limit: int) -> list[Row]:
    """Committed predictions from `since` on, served by another version, with no shadow row by the challenger and
    not among `skipped`: (id, record), oldest first, at most `limit`."""
    scored = ShadowPrediction.objects.filter(prediction=OuterRef("pk"), model_version_id=challenger.pk)
    rows = Prediction.objects.exclude(model_version_id=challenger.pk).filter(~Exists(scored))
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if skipped:
        rows = rows.exclude(pk__in=skipped)
    return list(rows.order_by("created_at").values_list("pk", "input")[:limit])


def _rows_score(loaded: LoadedModel, rows: Sequence[Row]) -> tuple[int, list[str]]:
    """Score these rows with the challenger and store one ShadowPrediction each: (rows written, ids of the rows
    that could not be scored). A batch the model fails on is scored again one record at a time, so that one
    poison record costs only itself."""
    try:
        scored = list(zip(rows, _predict(loaded, [record for _, record in rows]), strict=True))
        failed: list[str] = []
    except Exception as exc:  # noqa: BLE001 (any model error: the served answers stand)
        logger.warning("shadow scoring of a batch failed, retried one by one", extra={
            "model_version_id": loaded.version.pk, "predictions": len(rows), "reason": type(exc).__name__,
        })
        scored, failed = [], []
        for row in rows:
            try:
                scored.append((row, _predict(loaded, [row[1]])[0]))
            except Exception as one:  # noqa: BLE001
                failed.append(str(row[0]))
                reason = type(one).__name__
        if failed:
            _failed_log(challenger_id=loaded.version.pk, ids=failed, count=len(failed), reason=reason)
    shadows = [
        ShadowPrediction(
            prediction_id=pk, model_version=loaded.version, setup=output["setup"],
            predicted_grade=float(output["predicted_grade"]), pass_probability=float(output["pass_probability"]),
            interval_low=float(output["interval"]["low"]), interval_high=float(output["interval"]["high"]),
            interval_coverage=float(output["interval"]["coverage"]),
        )
        for (pk, _), output in scored
    ]
    if shadows:
        ShadowPrediction.objects.bulk_create(shadows, ignore_conflicts=True)  # a sweep whose lock had expired
        metrics.shadow_predictions_observe(outcome="scored", count=len(shadows))
    return len(shadows), failed


def _predict(loaded: LoadedModel, records: list) -> list[dict]:
    # No factors: a shadow row keeps the numbers only, and the explanations' variants would double the work.
    return predict_records(loaded.predictors, records, coverage=settings.PREDICTION_INTERVAL_COVERAGE, top_k=0)


def _failed_ids(challenger_id: int) -> set[str]:
    return set(cache.get(FAILED_KEY.format(challenger_id=challenger_id)) or ())


def _failed_remember(challenger_id: int, *, skipped: set[str], ids: list[str]) -> set[str]:
    kept = [pk for pk in cache.get(FAILED_KEY.format(challenger_id=challenger_id)) or () if pk not in ids] + ids
    kept = kept[-FAILED_KEEP_MAX:]
    cache.set(FAILED_KEY.format(challenger_id=challenger_id), kept, timeout=FAILED_KEEP_SECONDS)
    return skipped | set(ids)


def _failed_log(*, challenger_id: int, ids: Sequence[str], count: int, reason: str) -> None:
    logger.error("shadow scoring failed", extra={
        "model_version_id": challenger_id, "predictions": count, "prediction_ids": list(ids), "reason": reason,
    })
    metrics.shadow_predictions_observe(outcome="failed", count=count)
