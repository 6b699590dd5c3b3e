"""The form that records an intervention on a student's page: raw text, judged by intervention_record, whose
reasons are shown beside each field."""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils import timezone

from predictions.interventions.services import NOTE_MAX


class InterventionForm(forms.Form):
    kind = forms.CharField(label="What was done", required=False, widget=forms.Select())
    date = forms.CharField(label="When", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(
        label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2, "maxlength": NOTE_MAX}),
        help_text="Optional: what was agreed, who took part. Seen by those who may see the student.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"date": timezone.localdate().isoformat()})
        super().__init__(*args, **kwargs)
        # From settings at each use: the list is the school's (INTERVENTION_KINDS).
        self.fields["kind"].widget.choices = list(settings.INTERVENTION_KINDS.items())
