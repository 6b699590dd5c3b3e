"""Cross-validate the training recipe with the paper's protocol and show it beside the paper's best figures."""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from modelstore.ml.data import load_dataset
from modelstore.ml.evaluation import PAPER_BEST, evaluate
from modelstore.ml.plots import calibration_plot_write
from modelstore.schema import MAY_BE_UNKNOWN, SETUPS
from studentperf.errors import ApplicationError

from ._progress import progress_bar

METRICS = (("pcc_binary", "pass/fail %"), ("pcc_5level", "5-level %"), ("rmse", "RMSE"))


class Command(BaseCommand):
    help = "Evaluate the recipe: runs x folds cross-validation as in Cortez & Silva (2008), per setup A/B/C."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=20, help="repetitions of the cross-validation (paper: 20)")
        parser.add_argument("--folds", type=int, default=10, help="folds per run (paper: 10)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the first run's folds and models")
        parser.add_argument("--data", help="the ;-separated UCI CSV (default: data/student-mat.csv)")
        parser.add_argument("--json", action="store_true", help="print the full result as JSON")
        parser.add_argument(
            "--plot", metavar="PATH", help="also write the reliability diagram and interval coverage as a PNG"
        )

    def handle(self, *args, **options):
        if options["runs"] < 1 or options["folds"] < 2:
            raise CommandError("--runs must be at least 1 and --folds at least 2.")
        # Refused before the minutes of cross-validation, not after.
        if options["plot"] and not Path(options["plot"]).resolve().parent.is_dir():
            raise CommandError(f"--plot: the folder of {options['plot']} does not exist.")
        try:
            bar = progress_bar(self.stderr, desc="cross-validation", unit="fold", enabled=not options["json"])
            with bar as progress:
                report = evaluate(
                    load_dataset(options["data"]), runs=options["runs"], folds=options["folds"],
                    random_state=options["seed"], progress=progress,
                )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        if options["plot"]:
            calibration_plot_write(report, path=options["plot"], setups=SETUPS)
        self.stdout.write(json.dumps(report, indent=2) if options["json"] else _table(report))


def _table(report: dict) -> str:
    protocol = report["protocol"]
    lines = [
        f"{protocol['runs']} run(s) of {protocol['folds']}-fold cross-validation, recipe "
        f"{protocol['recipe']['name']}; pass = {protocol['pass_rule']}",
        f"{'setup':<6}{'metric':<13}{'model':>8}{'unknown':>9}{'naive':>8}{'paper':>8}",
    ]
    for setup in SETUPS:
        result = report[setup]
        for key, label in METRICS:
            lines.append(
                f"{setup:<6}{label:<13}{result[key]:>8.2f}{result['unknown'][key]:>9.2f}{result['naive'][key]:>8.2f}"
                f"{PAPER_BEST[setup][key]:>8.2f}"
            )
        lines.append(
            f"{setup:<6}{'coverage':<13}{result['coverage']:>8.3f}   (stated {protocol['coverage']}, "
            f"mean width {result['interval_width']:.2f} grade points)"
        )
        lines.append(
            f"{setup:<6}{'calibration':<13}Brier {result['brier']:.3f}, ECE {result['ece']:.3f} (pass probability); "
            f"coherent {result['coherent']:.1f} % of students"
        )
    lines.append(
        f"unknown: the model with {', '.join(MAY_BE_UNKNOWN)} left unknown; naive: A G3 = G2, B G3 = G1, "
        "C majority class / mean; paper: best model reported for maths"
    )
    return "\n".join(lines)
