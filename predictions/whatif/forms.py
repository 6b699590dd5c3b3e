"""The what-if panel: one field per attribute a student or family can change, each value in words."""
from __future__ import annotations

from collections.abc import Mapping

from django import forms

from modelstore.schema import ACTIONABLE, FEATURES, Feature


def _field(feature: Feature) -> forms.Field:
    # Raw text, judged by the service (what_if_changes_clean), like the record forms.
    if feature.kind == "category" or feature.choice_labels:
        choices = [(str(value), feature.value_words(value)) for value in feature.allowed]
        if feature.may_be_unknown:
            # A student whose value is unknown starts on "Unknown", which changes nothing, not on the first level.
            choices.insert(0, ("", "Unknown"))
        widget = forms.Select(choices=choices)
    else:
        widget = forms.NumberInput(attrs={"min": feature.minimum, "max": feature.maximum, "step": 1})
    return forms.CharField(label=feature.label, required=False, widget=widget, help_text=feature.meaning)


class WhatIfForm(forms.Form):
    """Starts from the student's values; what the teacher alters is the change tried."""

    locals().update({name: _field(FEATURES[name]) for name in ACTIONABLE})

    def __init__(self, *args, record: Mapping, **kwargs):
        super().__init__(*args, initial={name: record[name] for name in ACTIONABLE}, **kwargs)
        self.record = record

    def changes(self) -> dict:
        """The fields whose value differs from the student's (as text, for the service to judge)."""
        self.is_valid()
        return {
            name: value for name, value in self.cleaned_data.items()
            if value not in ("", None) and str(value) != str(self.record[name])
        }
