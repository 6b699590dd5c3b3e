from django import forms

from predictions.two_factor import texts


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=64, error_messages={"required": texts.CODE_REQUIRED},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )
