"""How the admin's lists show times, durations and states: in words and rounded, the way the teacher pages do.

Times are shown in the school's time zone (settings.TIME_ZONE; they are stored in UTC) to the minute, as
"2026-03-14 09:05" (the seconds are dropped, as on the teacher pages), inside a <time> element carrying the exact
instant. Imported by the apps' admin modules; imports no app.
"""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

MINUTE_FORMAT = "%Y-%m-%d %H:%M"


def local_minute_text(value: datetime | None) -> str:
    """`value` in the current (the school's) time zone, to the minute; "" for None."""
    return "" if value is None else timezone.localtime(value).strftime(MINUTE_FORMAT)


def local_minute(value: datetime | None, *, empty: str = "–") -> SafeString | str:
    """A list cell: `<time datetime="<exact instant>">2026-03-14 09:05</time>`, or `empty` for None."""
    if value is None:
        return empty
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), local_minute_text(value))


def milliseconds(value: float | None) -> str:
    """A duration in milliseconds, one decimal: 1.537393 -> "1.5 ms", 1234.56 -> "1,234.6 ms"."""
    return "–" if value is None else f"{value:,.1f} ms"


def credential_state(*, revoked: bool, expiry: datetime | None) -> str:
    """An API key's or OAuth2 client's state in one word: "revoked", "expired" or "active"."""
    if revoked:
        return "revoked"
    if expiry is not None and expiry <= timezone.now():
        return "expired"
    return "active"
