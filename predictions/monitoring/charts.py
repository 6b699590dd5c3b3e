"""Server-rendered SVG charts: small pure functions from plain data to safe, accessible SVG markup.

No JavaScript and no chart library: the page works offline and without scripts. Every text is escaped. A
chart is role="img", named by its <title> and described by its <desc>; series differ by marker shape and
dash pattern as well as by colour, and highlighted bars carry a hatch and a word. Colours have at least 3:1
contrast on white (WCAG 1.4.11). The markup scales with its container (viewBox, width 100%). The plot area
is drawn as `<rect class="plot-area">`: values map linearly into it (the tests read it back).
Each chart has a table twin (series_table, bars_table) for the page's "Show the numbers".
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 560
LINE_HEIGHT = 260
FONT = 13
CHAR_WIDTH = 7.2  # average advance of a FONT-sized character, to lay out legends and labels
INK, MUTED, GRID = "#1b1f24", "#4f5963", "#d0d7de"
COLOURS = ("#0b5cad", "#a40e26", "#1a7f37", "#8a5300", "#6f42c1", "#1b1f24")
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 4", "1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle-down")
HIGHLIGHT = "#a40e26"
REFERENCE_DASH = "3 5"
MARK_DASH = "6 3"
MISSING = "–"
_DAY = 86_400
_LEFT, _RIGHT, _BOTTOM = 58, 30, 34


def _number(value: float) -> str:
    return f"{value:g}"


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = MUTED, weight: str = "") -> str:
    bold = ' font-weight="600"' if weight else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{FONT}"{bold}>'
            f"{escape(content)}</text>")


def _svg(*, chart_id: str, title: str, description: str, height: float, body: Iterable[str],
         kind: str) -> SafeString:
    chart_id = escape(chart_id)
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" id="{chart_id}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" focusable="false" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        + "".join(body) + "</svg>"
    )


def empty_note(text: str) -> SafeString:
    """The plain sentence shown instead of a chart with nothing to draw."""
    return mark_safe(f'<p class="chart-empty">{escape(text)}</p>')


def nice_ticks(low: float, high: float, *, count: int = 5, fixed_top: bool = False) -> list[float]:
    """Round tick values from `low` to `high` (about `count` steps of 1, 2, 2.5 or 5 times a power of ten);
    the last tick reaches `high` or beyond unless `fixed_top` keeps them within it."""
    span = high - low if high > low else 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    steps = math.floor(span / step + 1e-9) if fixed_top else math.ceil(span / step - 1e-9)
    return [round(low + index * step, 10) for index in range(steps + 1)]


# -- the x axis: numbers, dates or datetimes, all as numbers inside -----------------------------------------------

def _x_value(x) -> float:
    if isinstance(x, datetime):
        return x.timestamp()
    if isinstance(x, date):
        return x.toordinal() * _DAY
    return float(x)


def _x_back(value: float, sample):
    if isinstance(sample, datetime):
        return datetime.fromtimestamp(value, tz=sample.tzinfo)
    if isinstance(sample, date):
        return date.fromordinal(round(value / _DAY))
    return value


def _x_formatter(sample, span: float) -> Callable:
    if isinstance(sample, datetime):
        if span < 2 * _DAY:
            return lambda moment: f"{moment.day} {moment:%b %H:%M}"
        return lambda moment: f"{moment.day} {moment:%b}"
    if isinstance(sample, date):
        return lambda day: f"{day.day} {day:%b}"
    return _number


def _x_ticks(values: list[float], sample, *, count: int = 6) -> list[float]:
    distinct = sorted(set(values))
    if len(distinct) <= count:
        return distinct
    low, high = distinct[0], distinct[-1]
    ticks = [low + (high - low) * index / (count - 1) for index in range(count)]
    if isinstance(sample, date):  # dates and datetimes: whole days read best
        ticks = [round(tick / _DAY) * _DAY for tick in ticks]
    return sorted({tick for tick in ticks if low <= tick <= high})


# -- line charts ----------------------------------------------------------------------------------------------------

def _marker(shape: str, x: float, y: float, colour: str, r: float = 4.5) -> str:
    if shape == "circle":
        return f'<circle class="marker" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'
    paths = {
        "square": f"M{x - r:.1f},{y - r:.1f}h{2 * r}v{2 * r}h{-2 * r}z",
        "triangle": f"M{x:.1f},{y - r - 1:.1f}L{x + r + 1:.1f},{y + r:.1f}H{x - r - 1:.1f}z",
        "triangle-down": f"M{x:.1f},{y + r + 1:.1f}L{x + r + 1:.1f},{y - r:.1f}H{x - r - 1:.1f}z",
        "diamond": f"M{x:.1f},{y - r - 1:.1f}L{x + r + 1:.1f},{y:.1f}L{x:.1f},{y + r + 1:.1f}L{x - r - 1:.1f},{y:.1f}z",
    }
    if shape in paths:
        return f'<path class="marker" d="{paths[shape]}" fill="{colour}"/>'
    return (f'<path class="marker" d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}'
            f'L{x + r:.1f},{y - r:.1f}" stroke="{colour}" stroke-width="2.5" fill="none"/>')


def _style(index: int) -> tuple[str, str, str]:
    return COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)], MARKERS[index % len(MARKERS)]


def _dash(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _legend(items: Sequence[tuple[str, str, str, str]], *, top: float) -> tuple[list[str], float]:
    """The legend's markup, rows of (name, colour, dash, marker shape or ""), and the height it takes."""
    parts, x, y = [], _LEFT, top + FONT
    for name, colour, dash, shape in items:
        width = 44 + CHAR_WIDTH * len(name) + 16
        if x > _LEFT and x + width > WIDTH - _RIGHT:
            x, y = _LEFT, y + FONT + 8
        parts.append(
            f'<g class="legend-item"><line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 32:.1f}" y2="{y - 4:.1f}" '
            f'stroke="{colour}" stroke-width="{2.5 if shape else 1.5}"{_dash(dash)}/>'
            + (_marker(shape, x + 16, y - 4, colour) if shape else "") + _text(x + 40, y, name, fill=INK) + "</g>"
        )
        x += width
    return parts, (y - top + 10) if items else 0


def line_chart(*, chart_id: str, title: str, description: str, series: Sequence[dict], y_min: float = 0.0,
               y_max: float | None = None, y_format: Callable[[float], str] = _number,
               x_format: Callable | None = None, references: Sequence[dict] = (),
               x_range: tuple[float, float] | None = None, diagonal: str = "",
               marks: Sequence[dict] = (), marks_label: str = "",
               empty: str = "Nothing to show yet.") -> SafeString:
    """Lines over x (numbers, dates or datetimes): series = [{"name", "points": [(x, y or None)]}]; a None
    breaks the line. references = [{"label", "value"}]: dashed horizontal lines, named in the legend. y_max
    None: rounded up from the data. x_range (numbers): a fixed x axis with round ticks instead of the data's
    span. diagonal: the legend label of a dashed y = x line (for x and y on one scale, e.g. a chance against a
    rate). marks = [{"x", "label"}]: dashed vertical lines at moments (e.g. interventions), each titled with its
    label, named `marks_label` in the legend. Without any value: the `empty` sentence."""
    present = [(x, y) for line in series for x, y in line["points"] if y is not None]
    if not present:
        return empty_note(empty)
    sample = present[0][0]
    # Gaps (None) keep their place on the axis, and so do the marks.
    xs = [_x_value(x) for line in series for x, _ in line["points"]] + [_x_value(mark["x"]) for mark in marks]
    x_low, x_high = x_range or (min(xs), max(xs))
    if x_low == x_high:  # one moment only: put it in the middle
        pad = _DAY if isinstance(sample, date) else 1.0
        x_low, x_high = x_low - pad, x_high + pad
    top_value = max([y for _, y in present] + [ref["value"] for ref in references])
    fixed = y_max is not None
    ticks = nice_ticks(y_min, y_max if fixed else max(top_value, y_min + 1e-9) * 1.05, fixed_top=fixed)
    y_high = y_max if fixed else ticks[-1]
    legend, legend_height = _legend(
        [(line["name"], *_style(index)) for index, line in enumerate(series)]
        + [(ref["label"], INK, REFERENCE_DASH, "") for ref in references]
        + ([(diagonal, INK, REFERENCE_DASH, "")] if diagonal else [])
        + ([(marks_label, HIGHLIGHT, MARK_DASH, "")] if marks else []), top=6)
    top = 6 + legend_height + 8
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, LINE_HEIGHT - top - _BOTTOM

    def px(x) -> float:
        return _LEFT + (_x_value(x) - x_low) / (x_high - x_low) * plot_w

    def py(value: float) -> float:
        return top + plot_h - (value - y_min) / ((y_high - y_min) or 1.0) * plot_h

    body = [*legend, f'<rect class="plot-area" x="{_LEFT}" y="{top:.1f}" width="{plot_w}" height="{plot_h:.1f}" '
                     f'fill="none" stroke="{GRID}"/>']
    for tick in ticks:
        body.append(f'<line class="grid" x1="{_LEFT}" y1="{py(tick):.1f}" x2="{WIDTH - _RIGHT}" y2="{py(tick):.1f}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(_LEFT - 6, py(tick) + 4, y_format(tick), anchor="end"))
    label = x_format or _x_formatter(sample, x_high - x_low)
    for tick in nice_ticks(x_low, x_high, fixed_top=True) if x_range else _x_ticks(xs, sample):
        moment = _x_back(tick, sample)
        body.append(_text(px(moment), top + plot_h + 18, label(moment), anchor="middle"))
    for ref in references:
        y = py(ref["value"])
        body.append(f'<line class="reference" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" '
                    f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="{REFERENCE_DASH}"/>')
    if diagonal:
        body.append(f'<line class="reference diagonal" x1="{px(x_low):.1f}" y1="{py(x_low):.1f}" '
                    f'x2="{px(x_high):.1f}" y2="{py(x_high):.1f}" stroke="{INK}" stroke-width="1.5" '
                    f'stroke-dasharray="{REFERENCE_DASH}"/>')
    for mark in marks:
        x = px(mark["x"])
        body.append(f'<line class="mark" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{top + plot_h:.1f}" '
                    f'stroke="{HIGHLIGHT}" stroke-width="1.5" stroke-dasharray="{MARK_DASH}">'
                    f'<title>{escape(mark["label"])}</title></line>')
    for index, line in enumerate(series):
        body.append(_line_series(line, index, px, py))
    return _svg(chart_id=chart_id, title=title, description=description, height=LINE_HEIGHT, body=body, kind="line")


def _line_series(line: dict, index: int, px: Callable, py: Callable) -> str:
    """One series: a polyline per run of values (a None starts a new one) and a marker per value."""
    colour, dash, shape = _style(index)
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in sorted(line["points"], key=lambda point: _x_value(point[0])):
        if y is None:
            runs.append([])
        else:
            runs[-1].append((px(x), py(y)))
    parts = [f'<g class="series" data-series="{escape(line["name"])}">']
    for points in runs:
        if len(points) > 1:
            coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2.5"'
                         f'{_dash(dash)} stroke-linejoin="round"/>')
        parts.extend(_marker(shape, x, y, colour) for x, y in points)
    return "".join(parts) + "</g>"


# -- horizontal bar charts ------------------------------------------------------------------------------------------

_BAR_ROW, _BAR_HEIGHT, _BAR_VALUE_ROOM = 30, 18, 128


def bar_chart(*, chart_id: str, title: str, description: str, bars: Sequence[dict], value_max: float | None = None,
              value_format: Callable[[float], str] = _number, reference: dict | None = None,
              highlight_word: str = "", empty: str = "Nothing to show yet.") -> SafeString:
    """Horizontal bars from 0: bars = [{"label", "value" (None: no bar, "no data"), "highlight"}]. A highlighted
    bar is hatched and its value followed by `highlight_word`. reference = {"label", "value"}: a dashed line."""
    values = [bar["value"] for bar in bars if bar["value"] is not None]
    if not values:
        return empty_note(empty)
    fixed = value_max is not None
    top_value = max(values + ([reference["value"]] if reference else []))
    ticks = nice_ticks(0, value_max if fixed else (top_value or 1.0), count=4, fixed_top=fixed)
    high = value_max if fixed else ticks[-1]
    label_width = min(max(CHAR_WIDTH * max(len(bar["label"]) for bar in bars) + 12, 72), WIDTH * 0.4)
    left, top = label_width, 26 if reference else 8
    plot_w, plot_h = WIDTH - left - _BAR_VALUE_ROOM, _BAR_ROW * len(bars)
    height = top + plot_h + _BOTTOM

    def px(value: float) -> float:
        return left + value / (high or 1.0) * plot_w

    hatch = f"{escape(chart_id)}-hatch"
    body = [
        f'<defs><pattern id="{hatch}" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{HIGHLIGHT}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>',
        f'<rect class="plot-area" x="{left:.1f}" y="{top}" width="{plot_w:.1f}" height="{plot_h}" fill="none" '
        f'stroke="none"/>',
    ]
    for tick in ticks:
        body.append(f'<line class="grid" x1="{px(tick):.1f}" y1="{top}" x2="{px(tick):.1f}" y2="{top + plot_h}" '
                    f'stroke="{GRID}"/>')
        body.append(_text(px(tick), top + plot_h + 18, value_format(tick), anchor="middle"))
    for index, bar in enumerate(bars):
        body.append(_bar_row(bar, top + index * _BAR_ROW, left, px, hatch, value_format, highlight_word))
    if reference:
        x = px(reference["value"])
        body.append(f'<line class="reference" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" '
                    f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="{REFERENCE_DASH}"/>')
        body.append(_text(x, top - 8, reference["label"], anchor="middle", fill=INK))
    return _svg(chart_id=chart_id, title=title, description=description, height=height, body=body, kind="bar")


def _bar_row(bar: dict, y: float, left: float, px: Callable, hatch: str, value_format: Callable,
             highlight_word: str) -> str:
    middle = y + _BAR_ROW / 2
    parts = [f'<g class="bar-row" data-label="{escape(bar["label"])}"'
             + (' data-highlight="true">' if bar.get("highlight") else ">"),
             _text(left - 8, middle + 4, bar["label"], anchor="end", fill=INK)]
    if bar["value"] is None:
        parts.append(_text(left + 4, middle + 4, "no data"))
        return "".join(parts) + "</g>"
    fill = f"url(#{hatch})" if bar.get("highlight") else COLOURS[0]
    end = px(bar["value"])
    parts.append(f'<rect class="bar" x="{left:.1f}" y="{middle - _BAR_HEIGHT / 2:.1f}" width="{end - left:.1f}" '
                 f'height="{_BAR_HEIGHT}" fill="{fill}" stroke="{HIGHLIGHT if bar.get("highlight") else COLOURS[0]}"/>')
    shown = value_format(bar["value"]) + (f" {highlight_word}" if bar.get("highlight") and highlight_word else "")
    parts.append(_text(end + 6, middle + 4, shown, fill=INK, weight="bold" if bar.get("highlight") else ""))
    return "".join(parts) + "</g>"


# -- the numbers behind a chart -------------------------------------------------------------------------------------

def series_table(*, series: Sequence[dict], x_heading: str, y_format: Callable[[float], str] = _number,
                 x_format: Callable | None = None) -> dict:
    """A line chart's numbers: {"headings": [x_heading, name...], "rows": [[x label, value per series]]}, one
    row per x value in order, MISSING where a series has no value there."""
    values = {}
    for index, line in enumerate(series):
        for x, y in line["points"]:
            values.setdefault(x, [None] * len(series))[index] = y
    moments = sorted(values, key=_x_value)
    label = x_format or (_table_label if moments and isinstance(moments[0], date) else _number)
    rows = [[label(x), *(MISSING if y is None else y_format(y) for y in values[x])] for x in moments]
    return {"headings": [x_heading, *(line["name"] for line in series)], "rows": rows}


def _table_label(moment: date) -> str:
    """A table has room for the full date, and time."""
    return f"{moment:%Y-%m-%d %H:%M}" if isinstance(moment, datetime) else f"{moment:%Y-%m-%d}"


def bars_table(*, bars: Sequence[dict], headings: Sequence[str], value_format: Callable[[float], str] = _number,
               highlight_word: str = "") -> dict:
    """A bar chart's numbers: [label, value] per bar, plus "yes"/"no" when a `highlight_word` column is asked."""
    rows = [
        [bar["label"], MISSING if bar["value"] is None else value_format(bar["value"])]
        + (["yes" if bar.get("highlight") else "no"] if highlight_word else [])
        for bar in bars
    ]
    return {"headings": list(headings), "rows": rows}
