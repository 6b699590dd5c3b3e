"""Pictures of an evaluation report (`evaluation.evaluate`), for `evaluate_model --plot`.

Drawn on matplotlib's Agg canvas directly, never through pyplot: no display, no global backend switch, safe in
a server or a container without X.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def calibration_plot_write(report: dict, *, path: str | Path, setups=None) -> None:
    """Write one PNG: the reliability diagram of the pass probability per setup (predicted against observed
    pass rate, with the diagonal of perfect calibration) and the interval coverage per setup against the
    stated coverage."""
    setups = setups or [key for key in report if key != "protocol"]
    figure = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    reliability, coverage = figure.subplots(1, 2, width_ratios=(3, 2))
    _reliability_draw(reliability, report, setups)
    _coverage_draw(coverage, report, setups)
    protocol = report["protocol"]
    figure.suptitle(f"{protocol['runs']} run(s) of {protocol['folds']}-fold cross-validation, out-of-fold predictions")
    figure.savefig(path, format="png", dpi=100)


def _reliability_draw(axes, report: dict, setups) -> None:
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for setup in setups:
        rows, result = report[setup]["reliability"], report[setup]
        axes.plot(
            [row["predicted"] for row in rows], [row["observed"] for row in rows], marker="o",
            label=f"{setup}: Brier {result['brier']:.3f}, ECE {result['ece']:.3f}",
        )
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted pass probability (bin mean)",
             ylabel="observed pass rate (G3 >= 10)", title="Reliability of the pass probability")
    axes.legend(loc="upper left")


def _coverage_draw(axes, report: dict, setups) -> None:
    stated = report["protocol"]["coverage"]
    measured = [report[setup]["coverage"] for setup in setups]
    bars = axes.bar(setups, measured, color="tab:blue")
    axes.bar_label(bars, fmt="%.3f")
    axes.axhline(stated, linestyle="--", color="grey", label=f"stated {stated:g}")
    axes.set(ylim=(min([*measured, stated]) - 0.1, 1), xlabel="setup", ylabel="share of G3 inside the interval",
             title="Interval coverage")
    axes.legend(loc="lower right")
