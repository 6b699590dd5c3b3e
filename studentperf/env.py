"""Typed reads of environment variables for studentperf/settings.py: one parsing rule per type.

Each setting used to parse its variable its own way (int(...), `in ("1", "true")`, split(",")), so a typo such as
DRIFT_WINDOW_DAYS=3O stopped start-up with a bare ValueError that named nothing, and DJANGO_DEBUG=ture quietly
meant off. Here a value that breaks its type's rule raises ImproperlyConfigured naming the variable, what is wrong
with the value and what is expected. The values of secrets are never shown: errors end up in logs and trackers.

The shared rule: surrounding whitespace is ignored, and a variable that is unset or blank takes its default (so a
bare `NAME=` line in an env file means "the default"). Lists are the exception: there an empty value is an empty
list, which means something (FORWARDED_ALLOW_IPS= trusts no proxy).
"""
from __future__ import annotations

import os
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SECRET_MARKERS = ("SECRET", "KEY", "PASSWORD", "TOKEN", "DSN")


def _invalid(name: str, expected: str) -> ImproperlyConfigured:
    secret = any(marker in name.upper() for marker in _SECRET_MARKERS)
    shown = "value hidden" if secret else f"got {os.environ[name]!r}"
    return ImproperlyConfigured(f"{name} must be {expected} ({shown}).")


def env_str(name: str, default: str = "", *, strip: bool = True) -> str:
    """strip=False keeps surrounding spaces, for credentials, where they may be part of the value."""
    value = os.environ.get(name, "")
    return (value.strip() if strip else value) or default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name).lower()
    if not value:
        return default
    if value not in _TRUE + _FALSE:
        raise _invalid(name, "a yes/no value: 1/0, true/false, yes/no or on/off")
    return value in _TRUE


def _number(name, default, parse, kind: str, minimum, maximum):
    value = env_str(name)
    if not value:
        return parse(default)
    if minimum is not None and maximum is not None:
        kind += f" from {minimum} to {maximum}"
    elif minimum is not None:
        kind += f" of at least {minimum}"
    elif maximum is not None:
        kind += f" of at most {maximum}"
    try:
        number = parse(value)
    except ValueError:
        raise _invalid(name, kind) from None
    # `not number >= minimum` rather than `number < minimum`: float("nan") compares false with everything.
    if (minimum is not None and not number >= minimum) or (maximum is not None and not number <= maximum):
        raise _invalid(name, kind)
    return number


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    return _number(name, default, int, "a whole number", minimum, maximum)


def env_float(name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
    return _number(name, default, float, "a number", minimum, maximum)


def env_list(name: str, default: str = "") -> list[str]:
    """Comma-separated items, each stripped, empty ones dropped; `default` (written the same way) only when unset."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    return Path(env_str(name) or default)


def env_choice(name: str, default: str, choices: Sequence[str]) -> str:
    """One of `choices` (given in lower case), whatever the case of the value."""
    value = env_str(name, default).lower()
    if value not in choices:
        raise _invalid(name, " or ".join(choices))
    return value


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name ("Europe/Lisbon", "UTC") that the zone database knows. Django alone would stop on
    an unknown one with a ValueError naming no variable, or, without /usr/share/zoneinfo, only at the first page."""
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: not a zone name at all ("../x", "/etc")
        raise _invalid(name, 'an IANA time zone name such as "Europe/Lisbon" or "UTC"') from None
    return value


def env_pairs(name: str, default: str, *, max_code_length: int | None = None) -> dict[str, str]:
    """Comma-separated `code:name` pairs, in order ("tutoring:Tutoring,other:Other"): codes of letters, digits and
    underscores (at most `max_code_length` of them when given), unique, each with a name; `default` (written
    the same way) only when unset."""
    pairs: dict[str, str] = {}
    for item in env_list(name, default):
        code, _, label = item.partition(":")
        code, label = code.strip(), label.strip()
        if not code or not label or not code.replace("_", "").isalnum() or code in pairs:
            raise _invalid(name, 'comma-separated "code:name" pairs with unique codes (letters, digits, _)')
        if max_code_length is not None and len(code) > max_code_length:
            raise _invalid(name, f'"code:name" pairs whose codes have at most {max_code_length} characters')
        pairs[code] = label
    if not pairs:
        raise _invalid(name, 'at least one "code:name" pair')
    return pairs


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # DRF's rate format: by the period's first letter


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int


@lru_cache(maxsize=32)
def rate_parse(text: str, *, name: str = "A rate") -> Rate:
    """"600/min" -> Rate(600, 60): DRF's format, `N/sec`, `N/min`, `N/hour` or `N/day` (`s`, `m`, `h`, `d` too).
    `name` begins the error (the settings pass the variable's)."""
    number, _, period = (part.strip() for part in str(text).partition("/"))
    if not number.isdigit() or int(number) < 1 or period[:1].lower() not in PERIODS:
        raise ImproperlyConfigured(
            f"{name} must look like 600/min (N/sec, N/min, N/hour or N/day, N at least 1), not {text!r}."
        )
    return Rate(limit=int(number), seconds=PERIODS[period[0].lower()])
