"""Run the accuracy and drift check now, in this process (beat runs the same on a worker on schedule)."""
import json

from django.core.management.base import BaseCommand

from predictions.monitoring.apis import AccuracyCheckSerializer
from predictions.monitoring.services import accuracy_check_run
from predictions.monitoring.texts import FIGURES, metrics_shown


class Command(BaseCommand):
    help = "Check each model version's accuracy against the recorded final grades, and the input drift, now."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the checks as the API answers them")

    def handle(self, *args, **options):
        checks = accuracy_check_run()
        if options["json"]:
            self.stdout.write(json.dumps({"checks": AccuracyCheckSerializer(checks, many=True).data}, indent=2))
            return
        for check in checks:
            self.stdout.write(_summary(check))
        alerts = [alert for check in checks for alert in check.alerts.all()]
        self.stdout.write(f"Alerts: {len(alerts) or 'none'}")
        for alert in alerts:
            seen = alert.details.get("times_seen", 1)
            state = "new" if seen == 1 else f"still open, seen {seen} times"
            self.stdout.write(f"  [{alert.kind}] {alert.message} ({state})")


def _summary(check) -> str:
    shown = metrics_shown(check.metrics)
    figures = ", ".join(f"{heading} {text}" for (_, heading, _), text in zip(FIGURES, shown["figures"], strict=True))
    drift = check.drift
    if drift["status"] == "not enough data":
        drift_text = f"not enough data ({drift['samples']} recent records, {drift['min_samples']} needed)"
    elif drift["drifting"]:
        drift_text = f"drifting in {', '.join(drift['drifting'])} ({drift['samples']} recent records)"
    else:
        drift_text = f"none ({drift['samples']} recent records)"
    failed = "n/a" if check.failed_share is None else f"{check.failed_share:.1%}"
    return (
        f"v{check.model_version.version}: {check.pairs} pairs; {figures}; coverage {shown['coverage']}\n"
        f"  drift: {drift_text}; rejected batch rows: {failed}"
    )
