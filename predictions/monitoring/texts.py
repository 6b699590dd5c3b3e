"""Sentences and figures as text for people: the monitoring pages' plain words and the check_accuracy summary."""
from __future__ import annotations

from django.utils import timezone

from predictions.models import AccuracyCheck

# How the figures read: (key, heading, kind) for the page's tables and the command's summary.
FIGURES = (
    ("accuracy", "Accuracy", "share"),
    ("precision", "Precision", "share"),
    ("recall", "Recall", "share"),
    ("f1", "F1", "share"),
    ("roc_auc", "ROC-AUC", "ratio"),
    ("brier", "Brier", "ratio"),
    ("rmse", "RMSE", "points"),
    ("mae", "MAE", "points"),
)


def _shown(value, kind: str) -> str:
    if value is None:
        return "n/a"
    return {"share": f"{value:.1%}", "ratio": f"{value:.3f}", "points": f"{value:.2f}"}[kind]


def metrics_shown(metrics: dict) -> dict:
    """The figures as text: "figures" in FIGURES order, "coverage" beside its promise, "pairs"."""
    coverage, stated = metrics.get("interval_coverage"), metrics.get("stated_coverage")
    return {
        "figures": [_shown(metrics.get(key), kind) for key, _, kind in FIGURES],
        "coverage": "n/a" if coverage is None else f"{coverage:.1%} (promised {stated:.0%})",
        "pairs": metrics.get("pairs", 0),
    }


def check_sentences(check: AccuracyCheck) -> list[str]:
    """The check's main figures as sentences a model admin reads at a glance."""
    metrics, version = check.metrics, f"v{check.model_version.version}"
    if not check.pairs:
        return [f"No final grade is recorded yet for a student or batch row that {version} predicted, so its accuracy "
                "cannot be measured yet."]
    sentences = [
        f"{version} was checked against {check.pairs} recorded final grades ({metrics['fails']} fails, "
        f"{metrics['passes']} passes). It made the right pass/fail call for {metrics['accuracy']:.0%} of them."
    ]
    if metrics.get("recall") is not None:
        sentences.append(
            f"Of the {metrics['fails']} students who failed, it had flagged {metrics['recall']:.0%} as at risk; "
            + (f"of those it flagged, {metrics['precision']:.0%} did fail." if metrics.get("precision") is not None
               else "it flagged nobody.")
        )
    sentences.append(
        f"Its predicted grade was off by {metrics['mae']:.1f} points on average, and {metrics['interval_coverage']:.0%} "
        f"of the final grades fell inside the predicted range, which promises {metrics['stated_coverage']:.0%}."
    )
    if metrics.get("brier") is not None:
        sentences.append(brier_sentence(metrics["brier"]) + (
            " " + band_sentence(max(metrics["reliability"], key=lambda band: band["pairs"]))
            if metrics.get("reliability") else ""))
    groups = metrics.get("unusual")
    if groups and (groups["flagged"]["pairs"] or groups["unflagged"]["pairs"]):
        sentences.append(unusual_sentence(groups))
    return sentences


# The groups of a check's metrics["unusual"] the page compares, as it names them. The third, "unknown", holds
# every pair of a version that predates the novelty check and none of any other: a version flags all or none.
UNUSUAL_ROWS = (("flagged", "Flagged unusual"), ("unflagged", "Others"))


def unusual_sentence(groups: dict) -> str:
    """The pass/fail accuracy on the records flagged unusual beside the others': metrics["unusual"] in words."""
    def accuracy(group: dict) -> str:
        return "n/a" if group["accuracy"] is None else f"{group['accuracy']:.0%}"

    flagged, others = groups["flagged"], groups["unflagged"]
    return (f"Unusual records: accuracy {accuracy(flagged)} on {flagged['pairs']} flagged vs {accuracy(others)} on "
            f"{others['pairs']} others.")


def unusual_summary(check: AccuracyCheck | None) -> dict:
    """The monitoring page's unusual records: {"sentence", "rows": [[group, pairs, accuracy, MAE, coverage]]}; no
    rows when there is nothing to compare (no check, no pairs, a check made before, a version without the check)."""
    if not (check and check.pairs):
        return {"sentence": "No check has compared unusual records with the others yet.", "rows": []}
    groups = check.metrics.get("unusual")
    if not groups:
        return {"sentence": f"The latest check of v{check.model_version.version} was made before unusual records were "
                            "measured; the next check measures them.", "rows": []}
    if not (groups["flagged"]["pairs"] or groups["unflagged"]["pairs"]):
        return {"sentence": f"v{check.model_version.version} predates the check for unusual records: none of its "
                            "predictions is flagged or cleared.", "rows": []}
    rows = [
        [name, groups[key]["pairs"], _shown(groups[key]["accuracy"], "share"), _shown(groups[key]["mae"], "points"),
         _shown(groups[key]["interval_coverage"], "share")]
        for key, name in UNUSUAL_ROWS
    ]
    return {"sentence": unusual_sentence(groups), "rows": rows}


INTERVENTIONS_NOTE = (
    "Descriptive, not causal: students who got an intervention may differ from those who did not in ways the model "
    "does not see."
)
# The risk bands of a check's metrics["interventions"], as the page names them, most at risk first.
INTERVENTION_BANDS = (("high", "High risk"), ("medium", "Medium risk"), ("low", "Low risk"))


def interventions_summary(check: AccuracyCheck) -> dict:
    """The accuracy page's pass rates with and without an intervention: {"note", "sentence", "rows": [[band,
    students with, passed, pass rate, students without, passed, pass rate]]}; no rows (a sentence instead) for a
    check made before they were measured, or without any stored student's pair."""
    report = check.metrics.get("interventions")
    if not report:
        return {"note": INTERVENTIONS_NOTE, "rows": [],
                "sentence": "This check was made before pass rates with and without interventions were measured; the "
                            "next check measures them."}
    bands = report["bands"]
    if not any(bands[key][group]["students"] for key, _ in INTERVENTION_BANDS for group in ("with", "without")):
        return {"note": INTERVENTIONS_NOTE, "rows": [],
                "sentence": f"No stored student that v{check.model_version.version} predicted has a recorded final "
                            "grade yet (batch rows have no interventions)."}
    rows = [
        [name, *(figure for group in ("with", "without") for figure in (
            bands[key][group]["students"], bands[key][group]["passed"], _shown(bands[key][group]["pass_rate"], "share")
        ))]
        for key, name in INTERVENTION_BANDS
    ]
    return {"note": INTERVENTIONS_NOTE, "rows": rows, "sentence": ""}


def band_name(band: dict) -> str:
    """A reliability band's range of chances: "70-80%"."""
    return f"{band['low']:.0%}-{band['high']:.0%}"


def band_sentence(band: dict) -> str:
    """What one reliability band says: how often a chance to pass in that band came true."""
    students = "student" if band["pairs"] == 1 else "students"
    return (f"When it said {band_name(band)} chance to pass, {band['pass_rate']:.0%} of the {band['pairs']} "
            f"{students} passed.")


def brier_sentence(brier: float, *, whose: str = "Its") -> str:
    return (f"{whose} chances to pass have a Brier score of {brier:.3f} (0 is perfect; saying 50% for every "
            "student scores 0.250).")


def drift_sentence(drift: dict) -> str:
    if drift.get("status") == "not enough data":
        return (f"Only {drift['samples']} records were predicted in the last {drift['window_days']} days; at least "
                f"{drift['min_samples']} are needed to compare them with the training data.")
    if drift.get("drifting"):
        return (f"The {drift['samples']} records of the last {drift['window_days']} days differ from the training "
                f"data in: {', '.join(drift['drifting'])}.")
    return f"The {drift['samples']} records of the last {drift['window_days']} days look like the training data."


def status_sentences(*, active, check: AccuracyCheck | None, open_alerts: int, drift: AccuracyCheck | None) -> list[str]:
    """The page's opening paragraph: what is served, the latest check, open alerts, drift, in plain words."""
    words = [f"Model v{active.version} is serving predictions." if active
             else "No model version is active: nothing is being predicted."]
    if check is None:
        words.append("No accuracy check has run yet.")
    else:
        at = timezone.localtime(check.created_at)
        when = f"The latest check of v{check.model_version.version}, on {at.day} {at:%b %Y at %H:%M},"
        words.append(
            f"{when} found the right pass/fail call for {check.metrics['accuracy']:.0%} of {check.pairs} recorded "
            "final grades." if check.pairs and check.metrics.get("accuracy") is not None
            else f"{when} had no recorded final grade to compare its predictions with yet."
        )
    words.append({0: "No alert is open.", 1: "1 alert is open (below)."}.get(
        open_alerts, f"{open_alerts} alerts are open (below)."))
    if drift is not None:
        drifting = drift.drift.get("drifting") or []
        words.append(f"Recent inputs differ from the training data in: {', '.join(drifting)}." if drifting
                     else "Recent inputs look like the training data.")
    return words


# The challenger (issue 19): the comparison stored with a check, in words (predictions.monitoring.challenger).
CHALLENGER_ROWS = (
    ("accuracy", "Pass/fail accuracy", "share"),
    ("rmse", "RMSE (grade points)", "points"),
    ("interval_coverage", "Interval coverage", "share"),
    ("brier", "Brier score (lower is better)", "ratio"),
)


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _interval(difference: dict, *, scale: float, digits: int) -> str:
    return f"{difference['low'] * scale:+.{digits}f} to {difference['high'] * scale:+.{digits}f}"


def challenger_sentence(comparison: dict) -> str:
    """The plain recommendation of a comparison (predictions.monitoring.challenger.challenger_comparison)."""
    challenger, active = f"challenger v{comparison['challenger_version']}", f"active v{comparison['active_version']}"
    students, verdict = comparison["students"], comparison["verdict"]
    if verdict == "not_enough_data":
        return (f"Not enough data yet ({students} of {comparison['min_students']} students) to compare the "
                f"{challenger} with the {active}.")
    figures, differences = (comparison["active"], comparison["challenger"]), comparison["differences"]
    accuracy = (f"{_percent(figures[1]['accuracy'])} vs {_percent(figures[0]['accuracy'])} pass/fail accuracy, "
                f"difference 95 % CI {_interval(differences['accuracy'], scale=100, digits=1)} points")
    rmse = (f"RMSE {figures[1]['rmse']:.2f} vs {figures[0]['rmse']:.2f} grade points, difference 95 % CI "
            f"{_interval(differences['rmse'], scale=1, digits=2)}")
    if verdict == "no_clear_difference":
        return (f"No clear difference between the {challenger} and the {active} on {students} students: "
                f"{accuracy}; {rmse}.")
    first, second = (accuracy, rmse) if comparison["decided_by"] == "accuracy" else (rmse, accuracy)
    advice = "consider promoting it" if verdict == "better" else "keep the active version"
    return f"The {challenger} is {verdict} than the {active} on {students} students: {first} ({second}); {advice}."


def challenger_table(comparison: dict) -> list[dict]:
    """The comparison's figures side by side for the page: [{"label", "active", "challenger"}] as text."""
    if "active" not in comparison:
        return []
    return [
        {"label": label, "active": _shown(comparison["active"][key], kind),
         "challenger": _shown(comparison["challenger"][key], kind)}
        for key, label, kind in CHALLENGER_ROWS
    ]


def challenger_summary(*, comparison: dict | None, challenger) -> dict | None:
    """What the monitoring page shows of the challenger: {"sentence", "rows" (challenger_table), "versions"
    (active, challenger numbers), "checked_at"}; None without a challenger nor a comparison. A challenger set
    since the last check is announced; a comparison is shown only for the current challenger."""
    if comparison is not None and (challenger is None or comparison["challenger_version"] != challenger.version):
        comparison = None
    if comparison is None:
        if challenger is None:
            return None
        return {"sentence": f"v{challenger.version} is the challenger: it scores every served prediction in "
                            "shadow, and the next accuracy check compares it with the active version.",
                "rows": [], "versions": None, "checked_at": None}
    return {
        "sentence": comparison["recommendation"],
        "rows": challenger_table(comparison),
        "versions": (comparison["active_version"], comparison["challenger_version"]),
        "checked_at": timezone.localtime(comparison["checked_at"]),
    }
