"""The student record form, one field per attribute, generated from modelstore.schema.

The fields only carry the raw text; the record's one validator (predictions.validation.record_clean) judges
it, and each reason it gives is shown beside its field.
"""
from __future__ import annotations

from django import forms

from modelstore.schema import ATTRIBUTES, PERIOD_GRADES, Feature
from studentperf.errors import ApplicationError

from .validation import record_clean


def choice_text(feature: Feature, value) -> str:
    """A value as a teacher reads it: "4 (higher)", "GP (Gabriel Pereira)", "at_home"."""
    label = feature.choice_labels.get(value)
    return f"{value} ({label})" if label else str(value)


def _help_text(feature: Feature, *, optional: bool) -> str:
    if feature.kind == "category" or feature.choice_labels:
        text = ""
    else:
        text = f"A whole number from {feature.minimum} to {feature.maximum}."
    if optional:
        text += " Leave empty while it is not known yet."
    return text.strip()


def _attribute_field(feature: Feature, *, optional: bool = False) -> forms.Field:
    # The browser is told what is required and allowed; the server decides with record_clean.
    attrs = {} if optional else {"required": True}
    if feature.kind == "category" or feature.choice_labels:
        empty = "Not known yet" if optional else "Choose..."
        choices = [("", empty)] + [(str(value), choice_text(feature, value)) for value in feature.allowed]
        widget = forms.Select(choices=choices, attrs=attrs)
    else:
        widget = forms.NumberInput(attrs={"min": feature.minimum, "max": feature.maximum, "step": 1, **attrs})
    return forms.CharField(
        label=feature.label, required=False, widget=widget, help_text=_help_text(feature, optional=optional)
    )


def application_error_add(form: forms.Form, error: ApplicationError) -> None:
    """Show an ApplicationError on a form: each reason beside its field, anything else above the form."""
    if not error.fields:
        form.add_error(None, error.message)
    for name, reasons in error.fields.items():
        for reason in reasons:
            if name in form.fields:
                form.add_error(name, f"{form.fields[name].label} {reason}.")
            else:
                form.add_error(None, f"{name} {reason}.")


class StudentRecordForm(forms.Form):
    """All 30 attributes and the optional period grades G1 and G2; `cleaned_data` is the validated record."""

    locals().update({feature.name: _attribute_field(feature) for feature in ATTRIBUTES})
    locals().update({feature.name: _attribute_field(feature, optional=True) for feature in PERIOD_GRADES})

    def clean(self) -> dict:
        raw = super().clean()
        try:
            return record_clean(raw)
        except ApplicationError as exc:
            application_error_add(self, exc)
            return raw
