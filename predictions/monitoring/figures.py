"""The monitoring page's charts: what predictions.monitoring.selectors reads, drawn by predictions.monitoring.charts.

Each figure is {"svg": chart markup, or the plain sentence that replaces an empty chart; "table": the numbers
({"headings", "rows"}), None when there are none; "note": a caption line, may be empty}. The headings and the
"what good looks like" sentences are the template's (templates/predictions/monitoring.html).
"""
from __future__ import annotations

from django.conf import settings

from modelstore.models import ModelVersion
from predictions.models import AccuracyCheck
from predictions.monitoring import selectors as data
from predictions.monitoring.charts import bar_chart, bars_table, empty_note, line_chart, series_table
from predictions.monitoring.texts import band_name, band_sentence, brier_sentence

DRIFT_BARS = 12  # the most different features drawn; the table lists every one
SOURCE_NAMES = {"web": "web pages", "api": "API", "batch": "batch uploads", "what_if": "what-if trials"}


# How each figure reads (str.format of one number).
_percent, _percent_1, _points, _milliseconds = "{:.0%}".format, "{:.1%}".format, "{:.1f}".format, "{:.0f} ms".format
_count, _per_100 = "{:,.0f}".format, "{:.1f}".format


def _latest_words(series: list[dict], value_format) -> str:
    """The last value of each line ("Latest: v2 72%, v3 84%."), for the chart's description."""
    latest = []
    for line in series:
        values = [y for _, y in line["points"] if y is not None]
        if values:
            latest.append(f"{line['name']} {value_format(values[-1])}")
    return "Latest: " + ", ".join(latest) + "." if latest else ""


def _figure(svg, table=None, note: str = "") -> dict:
    return {"svg": svg, "table": table, "note": note}


def _lines(chart_id: str, title: str, series: list[dict], *, value_format, table_format, x_heading: str,
           empty: str, what: str, **chart) -> dict:
    description = f"{what} {_latest_words(series, value_format)}".strip()
    svg = line_chart(chart_id=chart_id, title=title, description=description, series=series,
                     y_format=value_format, empty=empty, **chart)
    has_values = any(y is not None for line in series for _, y in line["points"])
    return _figure(svg, series_table(series=series, x_heading=x_heading, y_format=table_format) if has_values else None)


def version_figures(*, active: ModelVersion | None, can_run: bool) -> dict[str, dict]:
    """Accuracy, RMSE and interval coverage over time, one line per version: {"accuracy", "rmse", "coverage"}."""
    versions = data.check_series(active=active)
    if not AccuracyCheck.objects.exists():
        empty = (f"No accuracy check has run yet. Checks run every {settings.ACCURACY_CHECK_INTERVAL_HOURS:g} hours"
                 + ("; press Run the check now above to run one at once." if can_run else "."))
    else:
        empty = (f"No check of the last {data.CHECK_DAYS} days had final grades to compare with. Record final grades "
                 "(on a student's page, or a G3 column in a class upload) and the next check measures them.")

    def lines(key: str) -> list[dict]:
        return [{"name": f"v{version['version']}" + (" (active)" if version["active"] else ""),
                 "points": [(check["at"], check[key]) for check in version["checks"]]} for version in versions]

    threshold = settings.ALERT_ACCURACY_BELOW
    stated = next((check["stated_coverage"] for version in reversed(versions) for check in version["checks"][::-1]
                   if check["stated_coverage"] is not None), settings.PREDICTION_INTERVAL_COVERAGE)
    common = {"x_heading": "Checked", "empty": empty}
    return {
        "accuracy": _lines(
            "chart-accuracy", "Pass/fail accuracy of each model version, check by check", lines("accuracy"),
            value_format=_percent, table_format=_percent_1, y_max=1,
            references=[{"label": f"alert below {threshold:.0%}", "value": threshold}],
            what=f"One line per model version; the dashed line is the alert threshold, {threshold:.0%}.", **common),
        "rmse": _lines(
            "chart-rmse", "Typical grade error (RMSE, grade points out of 20) of each model version",
            lines("rmse"), value_format=_points, table_format="{:.2f}".format,
            what="One line per model version.", **common),
        "coverage": _lines(
            "chart-coverage", "Final grades inside the predicted range, per model version", lines("interval_coverage"),
            value_format=_percent, table_format=_percent_1, y_max=1,
            references=[{"label": f"promised {stated:.0%}", "value": stated}],
            what=f"One line per model version; the dashed line is the promised coverage, {stated:.0%}.", **common),
    }


def traffic_figures() -> dict[str, dict]:
    """Predictions per day by source, and p50/p95 latency of web and API predictions: {"volume", "latency"}."""
    days = data.traffic_days()
    volume = data.prediction_volume(days=days)
    latency = data.prediction_latency(days=days)
    volume_series = [{"name": SOURCE_NAMES[source], "points": list(zip(days, counts))}
                     for source, counts in volume.items()]
    latency_series = [{"name": "p50 (half were faster)", "points": list(zip(days, latency["p50"]))},
                      {"name": "p95 (1 in 20 slower)", "points": list(zip(days, latency["p95"]))}]
    no_volume = not any(sum(counts) for counts in volume.values())
    note = (f"Only the latest {data.LATENCY_SAMPLE_CAP:,} web and API predictions are read: earlier days show "
            "no latency." if latency["capped"] else "")
    return {
        "volume": _lines(
            "chart-volume", f"Predictions per day over the last {len(days)} days, by source",
            [] if no_volume else volume_series, value_format=_count, table_format=_count, x_heading="Day",
            empty=f"No prediction was made in the last {len(days)} days.",
            what="One line per source: web pages, API, batch uploads."),
        "latency": _lines(
            "chart-latency", "How long a web or API prediction took, per day (p50 and p95)", latency_series,
            value_format=_milliseconds, table_format="{:.1f} ms".format, x_heading="Day",
            empty=f"No web or API prediction was made in the last {len(days)} days.",
            what=f"Two lines: the median and the 95th percentile of {latency['samples']:,} predictions.",
        ) | {"note": note},
    }


def error_figure() -> dict:
    """Errors per 100 requests by type, since the web server started."""
    rates = data.error_rates()
    if not rates["requests"]:
        return _figure(empty_note("No request has been counted since the web server started."))
    bars = [{"label": row["type"].replace("_", " "), "value": row["per_100"], "highlight": False}
            for row in rates["types"]]
    svg = bar_chart(
        chart_id="chart-errors", title="Errors per 100 requests, by type",
        description=f"Over {rates['requests']:,} requests since the web server started: "
                    + ", ".join(f"{bar['label']} {bar['value']:.1f}" for bar in bars) + ".",
        bars=bars, value_format=_per_100,
    )
    table = bars_table(bars=bars, headings=("Error type", "Per 100 requests"), value_format=_per_100)
    for row, type_row in zip(table["rows"], rates["types"], strict=True):
        row.append(_count(type_row["errors"]))
    table["headings"].append("Errors")
    return _figure(svg, table, note=f"{rates['requests']:,} requests counted.")


def drift_figure(*, check: AccuracyCheck | None) -> dict:
    """How different each feature's recent values are from the training data, the drifting ones marked."""
    if check is None:
        return _figure(empty_note(
            f"No check has had enough recent records (at least {settings.DRIFT_MIN_SAMPLES} in "
            f"{settings.DRIFT_WINDOW_DAYS} days) to compare with the training data yet."))
    features = data.drift_differences(drift=check.drift)
    bars = [{"label": row["feature"], "value": row["difference"], "highlight": row["drifting"]} for row in features]
    shown = sorted(bars[:DRIFT_BARS] + [bar for bar in bars[DRIFT_BARS:] if bar["highlight"]],
                   key=lambda bar: -bar["value"])
    drifting = [bar["label"] for bar in bars if bar["highlight"]]
    svg = bar_chart(
        chart_id="chart-drift", title=f"How different recent inputs of v{check.model_version.version} are from the "
                                      "training data, per feature",
        description=(f"{len(shown)} of {len(bars)} features, most different first. "
                     + (f"Drifting: {', '.join(drifting)}." if drifting else "No feature is drifting.")),
        bars=shown, value_max=1, value_format=_percent, highlight_word="drifting",
    )
    table = bars_table(bars=bars, headings=("Feature", "How different", "Drifting"), value_format=_percent_1,
                       highlight_word="drifting")
    note = (f"The {len(shown)} most different of {len(bars)} features tested; the numbers list all of them."
            if len(shown) < len(bars) else "")
    return _figure(svg, table, note)


def subgroup_figure(*, check: AccuracyCheck | None) -> dict:
    """The pass/fail accuracy per subgroup of the active version's latest check, beside the overall figure."""
    groups = data.subgroup_accuracy(check=check) if check and check.pairs else []
    if not groups:
        version = f"v{check.model_version.version}" if check else "the active version"
        return _figure(empty_note(f"No final grade is recorded yet for a prediction of {version}."))
    overall = check.metrics["accuracy"]
    bars = [{"label": f"{group['feature']} = {group['value']} ({group['pairs']})", "value": group["accuracy"],
             "highlight": False} for group in groups]
    svg = bar_chart(
        chart_id="chart-subgroups", title=f"Pass/fail accuracy of v{check.model_version.version} per group",
        description=f"Overall {overall:.0%} (dashed line). "
                    + ", ".join(f"{group['feature']} = {group['value']}: {group['accuracy']:.0%} of {group['pairs']}"
                                for group in groups) + ".",
        bars=bars, value_max=1, value_format=_percent, reference={"label": f"overall {overall:.0%}", "value": overall},
    )
    table = {"headings": ["Group", "Accuracy", "Final grades"],
             "rows": [[f"{group['feature']} = {group['value']}", _percent_1(group["accuracy"]), group["pairs"]]
                      for group in groups]}
    return _figure(svg, table, note="In brackets: the number of final grades in the group.")


def reliability_figure(*, check: AccuracyCheck | None) -> dict:
    """Calibration of the check's pass chances: per band of predicted chance, the share that passed, against
    the diagonal (a chance of 70% that comes true 70% of the time), with the Brier score."""
    version = f"v{check.model_version.version}" if check else "the active version"
    if not (check and check.pairs):
        return _figure(empty_note(f"No final grade is recorded yet for a prediction of {version}."))
    bands = check.metrics.get("reliability")
    if not bands:
        return _figure(empty_note(f"The latest check of {version} was made before calibration was measured; "
                                  "the next check measures it."))
    svg = line_chart(
        chart_id="chart-calibration", title=f"Predicted chance to pass against the share who passed, {version}",
        description=f"The dashed diagonal is a chance that comes true as often as it says. "
                    + " ".join(band_sentence(band) for band in bands),
        series=[{"name": f"{version}: share who passed",
                 "points": [(band["mean_pass_probability"], band["pass_rate"]) for band in bands]}],
        x_range=(0, 1), y_max=1, x_format=_percent, y_format=_percent, diagonal="perfectly calibrated",
    )
    table = {"headings": ["Predicted chance to pass", "Mean predicted chance", "Passed", "Final grades"],
             "rows": [[band_name(band), _percent_1(band["mean_pass_probability"]), _percent_1(band["pass_rate"]),
                       _count(band["pairs"])] for band in bands]}
    brier = check.metrics.get("brier")
    return _figure(svg, table, note="" if brier is None else brier_sentence(brier, whose=f"{version}'s"))
