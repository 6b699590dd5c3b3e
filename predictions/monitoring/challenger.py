"""The active version against the challenger on the same students (issue 19): the accuracy check's maths.

The pairs are the active version's (predictions.monitoring.accuracy: one forecast per student, or a batch row
with its G3) whose served prediction the challenger scored in shadow, so both are judged on the same students
and the same records. Per side: pass/fail accuracy, RMSE, interval coverage and Brier score, as the accuracy
check computes them. On the difference (challenger minus active) of pass/fail accuracy and of RMSE, a paired
bootstrap 95 % interval: the students are resampled with replacement BOOTSTRAP_RESAMPLES times (a fixed seed,
so a check is reproducible) and both versions are scored on each resample. The verdict reads the accuracy
interval first (what a teacher acts on), then the RMSE one; an interval that holds 0 decides nothing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from predictions.monitoring.accuracy import at_risk, flagged_at_risk
from predictions.monitoring.texts import challenger_sentence

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 19
CONFIDENCE = 0.95
SIDES = ("active", "challenger")
# Each resample is a row of student indices: at most this many indices in memory at once.
_BOOTSTRAP_CELLS = 2_000_000


def side_errors(paired: pd.DataFrame, side: str) -> dict[str, np.ndarray]:
    """Per student, for one side ("active" or "challenger"): "correct" (1 when its pass/fail call was right),
    "squared" (squared grade error), "covered" (1 when its interval held the grade), "brier" (squared gap
    between its pass chance and passing)."""
    grades = paired["final_grade"].to_numpy(dtype=float)
    chance = paired[f"{side}_pass_probability"].to_numpy(dtype=float)
    failed = at_risk(grades)
    return {
        "correct": (flagged_at_risk(chance) == failed).astype(float),
        "squared": (paired[f"{side}_predicted_grade"].to_numpy(dtype=float) - grades) ** 2,
        "covered": ((paired[f"{side}_interval_low"].to_numpy(dtype=float) <= grades)
                    & (grades <= paired[f"{side}_interval_high"].to_numpy(dtype=float))).astype(float),
        "brier": (chance - (1 - failed)) ** 2,
    }


def side_figures(errors: dict[str, np.ndarray]) -> dict:
    """{"accuracy", "rmse", "interval_coverage", "brier"} of one side's per-student errors."""
    return {
        "accuracy": float(errors["correct"].mean()),
        "rmse": float(np.sqrt(errors["squared"].mean())),
        "interval_coverage": float(errors["covered"].mean()),
        "brier": float(errors["brier"].mean()),
    }


def paired_bootstrap(active: dict[str, np.ndarray], challenger: dict[str, np.ndarray], *,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """The challenger's difference from the active version in pass/fail accuracy and in RMSE, each with its
    paired bootstrap CONFIDENCE interval (percentiles): {"accuracy" | "rmse": {"difference", "low", "high"}}.
    The same resampled students score both sides, so what the two versions share cancels out."""
    students = len(active["correct"])
    rng = np.random.default_rng(seed)
    accuracy, rmse = [], []
    step = max(1, _BOOTSTRAP_CELLS // max(students, 1))
    for start in range(0, resamples, step):
        rows = rng.integers(0, students, size=(min(step, resamples - start), students))
        accuracy.append(challenger["correct"][rows].mean(axis=1) - active["correct"][rows].mean(axis=1))
        rmse.append(np.sqrt(challenger["squared"][rows].mean(axis=1)) - np.sqrt(active["squared"][rows].mean(axis=1)))
    tails = [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2]
    result = {}
    for name, draws, key in (("accuracy", accuracy, "correct"), ("rmse", rmse, "squared")):
        low, high = np.percentile(np.concatenate(draws), tails)
        if name == "accuracy":
            difference = challenger[key].mean() - active[key].mean()
        else:
            difference = np.sqrt(challenger[key].mean()) - np.sqrt(active[key].mean())
        result[name] = {"difference": float(difference), "low": float(low), "high": float(high)}
    return result


def verdict_for(differences: dict) -> tuple[str, str | None]:
    """("better" | "worse" | "no_clear_difference", the figure that decided: "accuracy", "rmse" or None).
    Higher accuracy is better, lower RMSE is better; accuracy is read first."""
    accuracy, rmse = differences["accuracy"], differences["rmse"]
    if accuracy["low"] > 0:
        return "better", "accuracy"
    if accuracy["high"] < 0:
        return "worse", "accuracy"
    if rmse["high"] < 0:
        return "better", "rmse"
    if rmse["low"] > 0:
        return "worse", "rmse"
    return "no_clear_difference", None


def challenger_comparison(paired: pd.DataFrame, *, active_version: int, challenger_version: int,
                          min_students: int) -> dict:
    """The comparison stored with the active version's check (AccuracyCheck.challenger): "active_version",
    "challenger_version", "students", "min_students", "verdict" ("better", "worse", "no_clear_difference" or
    "not_enough_data"), "decided_by", "recommendation" (a sentence), and with enough students "active" and
    "challenger" (side_figures), "differences" (paired_bootstrap) and "bootstrap" (resamples, seed, confidence).
    """
    base = {
        "active_version": active_version, "challenger_version": challenger_version, "students": len(paired),
        "min_students": min_students,
    }
    if len(paired) < min_students:
        comparison = base | {"verdict": "not_enough_data", "decided_by": None}
        return comparison | {"recommendation": challenger_sentence(comparison)}
    errors = {side: side_errors(paired, side) for side in SIDES}
    differences = paired_bootstrap(errors["active"], errors["challenger"])
    verdict, decided_by = verdict_for(differences)
    comparison = base | {
        "verdict": verdict, "decided_by": decided_by,
        **{side: side_figures(errors[side]) for side in SIDES},
        "differences": differences,
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "confidence": CONFIDENCE},
    }
    return comparison | {"recommendation": challenger_sentence(comparison)}
