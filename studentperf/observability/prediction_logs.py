"""One log line per prediction served, with no personal data: outputs and ids, never the student."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings

logger = logging.getLogger("studentperf.predictions")


def prediction_log(*, predictions: Sequence, latency_ms: float) -> None:
    """A "prediction" line per Prediction row: ids, model version, setup, source, outputs, whether the record is
    unusual and the call's latency.

    Never the student (external id, teacher) nor the requester, nor why a record is unusual (its reasons quote the
    record's values); the record's attributes (`inputs`) only with settings.LOG_PREDICTION_INPUTS. Cheap enough
    for a 100,000-row batch: one level check, one dict per row.
    """
    if not predictions or not logger.isEnabledFor(logging.INFO):
        return
    with_inputs = getattr(settings, "LOG_PREDICTION_INPUTS", False)
    latency_ms = round(latency_ms, 2)
    for prediction in predictions:
        fields = {
            "prediction_id": str(prediction.id),
            "model_version": prediction.model_version.version,
            "setup": prediction.setup,
            "source": prediction.source,
            "predicted_grade": prediction.predicted_grade,
            "pass_probability": prediction.pass_probability,
            "confidence": prediction.confidence,
            "risk": prediction.risk,
            "interval_low": prediction.interval_low,
            "interval_high": prediction.interval_high,
            "unusual": prediction.unusual,
            "latency_ms": latency_ms,
        }
        if with_inputs:
            fields["inputs"] = prediction.input
        logger.info("prediction", extra=fields)
