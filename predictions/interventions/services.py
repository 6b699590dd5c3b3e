"""Interventions: what a teacher did for a student (tutoring, a parent meeting...), recorded with its date, a
note and who recorded it. Personal data: nothing of an intervention is written to the logs."""
from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from predictions.models import Intervention, Student
from studentperf.errors import ApplicationError

NOTE_MAX = 2000
# An intervention is recorded when done, or just before; not years ahead or a century back (a typo).
FUTURE_DAYS = 31
PAST_DAYS = 5 * 366


def intervention_record(*, student: Student, kind, date_done, note="", user=None) -> Intervention:
    """Record an intervention for `student` (the caller checked the requester may change the student).

    `kind` a code of settings.INTERVENTION_KINDS; `date_done` a date or ISO text ("2026-11-20"), from five
    years back to a month ahead; `note` up to NOTE_MAX characters. Raises ApplicationError(kind="invalid")
    naming each bad field: `kind`, `date`, `note`."""
    fields: dict[str, list[str]] = {}
    kinds = settings.INTERVENTION_KINDS
    if not isinstance(kind, str) or kind not in kinds:
        fields["kind"] = [f"must be one of {', '.join(kinds)}"]
    when = _date_clean(date_done, fields)
    note = "" if note is None else note
    if not isinstance(note, str):
        fields["note"] = ["must be text"]
    elif len(note) > NOTE_MAX:
        fields["note"] = [f"must be at most {NOTE_MAX} characters (it has {len(note)})"]
    if fields:
        raise ApplicationError("Invalid intervention.", kind="invalid", fields=fields)
    return Intervention.objects.create(student=student, kind=kind, date=when, note=note.strip(), recorded_by=user)


def intervention_kind_name(code: str) -> str:
    """A kind's name from settings; a code no longer in the list is shown as it is."""
    return settings.INTERVENTION_KINDS.get(code, code.replace("_", " "))


def _date_clean(value, fields: dict) -> date | None:
    if isinstance(value, date):
        when = value
    else:
        try:
            when = date.fromisoformat(str(value).strip()) if value not in (None, "") else None
        except ValueError:
            when = None
            fields["date"] = ["must be a date as YYYY-MM-DD"]
            return None
    if when is None:
        fields["date"] = ["is required"]
        return None
    today = timezone.localdate()
    if when > today + timedelta(days=FUTURE_DAYS):
        fields["date"] = [f"must be at most {FUTURE_DAYS} days ahead"]
    elif when < today - timedelta(days=PAST_DAYS):
        fields["date"] = ["must be within the last five years"]
    return when
