"""The one validator for a student record. The web form, the API and CSV batches all go through it.

A record holds the 30 UCI attributes and the period grades G1 and G2 (optional: None, absent or "" means not
known yet; G2 needs G1). The attributes are required, except the sensitive ones a teacher may leave unknown
(schema.MAY_BE_UNKNOWN: None, absent or "" again). `school` is a code of the installation's schools
(settings.SCHOOLS). Every bad field is reported at once, each with a sentence saying what it must be.
"""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping

from django.conf import settings

from modelstore.schema import ATTRIBUTES, FEATURES, PERIOD_GRADES, TARGET, Feature
from studentperf.errors import ApplicationError

from .models import Student

EXTERNAL_ID_MAX = Student._meta.get_field("external_id").max_length  # a batch row's column is as long
INVALID_RECORD = "Invalid student record."
NOT_A_RECORD = "A student record must map attribute names to values."
REQUIRED = "is required"
UNKNOWN = "unknown field"
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def _is_blank(value) -> bool:
    # NaN is how pandas reads an empty CSV cell.
    if isinstance(value, float):
        return math.isnan(value)
    return value is None or (isinstance(value, str) and not value.strip())


def integer_clean(value, *, minimum: int, maximum: int) -> int:
    """An int in [minimum, maximum] from an int or a string of digits; raises ValueError with the reason.

    Booleans, words and numbers with a fraction are refused; a float without a fraction (5.0, as pandas
    reads an int column with gaps) is accepted.
    """
    # The common cases first, without the checks below: an int (JSON), a plain string of digits (CSV).
    if type(value) is int and minimum <= value <= maximum:
        return value
    if type(value) is str and value.isascii() and value.isdigit() and minimum <= (number := int(value)) <= maximum:
        return number
    reason = f"must be an integer from {minimum} to {maximum}"
    if isinstance(value, bool):
        raise ValueError(reason)
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(reason)
    if not minimum <= number <= maximum:
        raise ValueError(reason)
    return number


def value_clean(feature: Feature, value):
    """One attribute's value, cleaned; raises ValueError with the reason it is refused."""
    if feature.kind == "int":
        return integer_clean(value, minimum=feature.minimum, maximum=feature.maximum)
    choices = allowed_values(feature)
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or text not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return text


def allowed_values(feature: Feature) -> tuple:
    """What a record may give for `feature`: the schema's values, but for `school` the codes of the
    installation's schools (settings.SCHOOLS; the model treats one it was not trained on as unknown)."""
    if feature.name == "school":
        return tuple(settings.SCHOOLS)
    return feature.allowed


def record_clean(raw: Mapping) -> dict:
    """The validated record: categories as their exact value, ints as int, G1/G2 an int or None.

    Raises one ApplicationError(kind="invalid") whose `fields` name every bad field.
    """
    if not isinstance(raw, Mapping):
        raise ApplicationError(NOT_A_RECORD, kind="invalid")
    errors: dict[str, list[str]] = {str(name): [UNKNOWN] for name in raw if name not in FEATURES}
    cleaned: dict = {}
    for feature in ATTRIBUTES + PERIOD_GRADES:
        value = raw.get(feature.name)
        if _is_blank(value):
            cleaned[feature.name] = None
            if feature not in PERIOD_GRADES and not feature.may_be_unknown:
                errors[feature.name] = [REQUIRED]
            continue
        try:
            cleaned[feature.name] = value_clean(feature, value)
        except ValueError as exc:
            errors[feature.name] = [str(exc)]
    if cleaned.get("G2") is not None and "G1" in cleaned and cleaned["G1"] is None:
        errors["G1"] = ["is required when G2 is given"]
    if errors:
        raise ApplicationError(INVALID_RECORD, kind="invalid", fields=errors)
    return cleaned


def records_clean(raws: Iterable[Mapping]) -> tuple[list[dict | None], dict[int, ApplicationError]]:
    """Every record validated: the cleaned records (None where invalid) and the error of each bad index."""
    cleaned: list[dict | None] = []
    errors: dict[int, ApplicationError] = {}
    for index, raw in enumerate(raws):
        try:
            cleaned.append(record_clean(raw))
        except ApplicationError as exc:
            cleaned.append(None)
            errors[index] = exc
    return cleaned, errors


def records_error_fields(errors: Mapping[int, ApplicationError]) -> dict[str, list[str]]:
    """The errors of records_clean as one `fields` mapping: "<index>.<field>", or "<index>" for a record that
    is not a mapping at all."""
    fields: dict[str, list[str]] = {}
    for index, error in errors.items():
        fields.update({f"{index}.{name}": reasons for name, reasons in error.fields.items()})
        if not error.fields:
            fields[str(index)] = [error.message]
    return fields


def external_id_clean(value, *, required: bool) -> str:
    """The school's student id, stripped: text of at most EXTERNAL_ID_MAX characters ("" when absent and not
    required). Raises ValueError with the sentence shown beside the field."""
    value = value.strip() if isinstance(value, str) else value
    if value is None or value == "":
        if required:
            raise ValueError(REQUIRED)
        return ""
    if not isinstance(value, str) or len(value) > EXTERNAL_ID_MAX:
        raise ValueError(f"must be text of at most {EXTERNAL_ID_MAX} characters")
    return value


def error_field_names() -> frozenset[str]:
    """Every field a validation error of this app may name (settings.METRICS_ERROR_FIELDS): the metrics count
    errors by these labels, and fold any other name into a few "other" labels."""
    return frozenset({*FEATURES, TARGET, "external_id", "student_id", "instances", "file", "row", "record",
                      "non_field_errors"})
