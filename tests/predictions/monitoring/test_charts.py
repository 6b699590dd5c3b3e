"""The SVG charts: well-formed, named and described, escaped, values at the right coordinates, gaps, empty input,
and their numbers tables."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest

from predictions.monitoring.charts import MISSING, bar_chart, bars_table, line_chart, nice_ticks, series_table

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def plot_area(svg: ET.Element) -> tuple[float, float, float, float]:
    rect = svg.find(f".//{SVG}rect[@class='plot-area']")
    return tuple(float(rect.get(name)) for name in ("x", "y", "width", "height"))


def polylines(svg: ET.Element, series: str) -> list[list[tuple[float, float]]]:
    group = svg.find(f".//{SVG}g[@data-series='{series}']")
    return [[tuple(float(value) for value in pair.split(",")) for pair in line.get("points").split()]
            for line in group.findall(f"{SVG}polyline")]


def texts(svg: ET.Element) -> list[str]:
    return [text.text for text in svg.iter(f"{SVG}text")]


def line(**overrides):
    arguments = {"chart_id": "c", "title": "Accuracy", "description": "One line per version.",
                 "series": [{"name": "v1", "points": [(0, 0), (10, 50), (20, 100)]}], "y_max": 100} | overrides
    return line_chart(**arguments)


def test_a_line_chart_is_an_accessible_scalable_image():
    svg = parse(line())

    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-title c-desc"
    assert svg.find(f"{SVG}title").get("id") == "c-title" and svg.find(f"{SVG}title").text == "Accuracy"
    assert svg.find(f"{SVG}desc").get("id") == "c-desc" and svg.find(f"{SVG}desc").text == "One line per version."
    assert svg.get("width") == "100%" and svg.get("viewBox").startswith("0 0 ")


def test_values_map_linearly_into_the_plot_area():
    svg = parse(line())
    left, top, width, height = plot_area(svg)

    [points] = polylines(svg, "v1")

    assert points == [
        pytest.approx((left, top + height), abs=0.06),  # x 0, y 0: bottom left
        pytest.approx((left + width / 2, top + height / 2), abs=0.06),
        pytest.approx((left + width, top), abs=0.06),  # x 20, y 100 = y_max: top right
    ]


def test_y_ticks_are_labelled_with_the_given_format():
    svg = parse(line(y_max=1, series=[{"name": "v1", "points": [(0, 0.5), (1, 0.8)]}], y_format=lambda v: f"{v:.0%}"))

    assert {"0%", "20%", "40%", "60%", "80%", "100%"} <= set(texts(svg))


def test_a_missing_value_breaks_the_line():
    svg = parse(line(series=[{"name": "v1", "points": [(0, 10), (1, 20), (2, None), (3, 40), (4, 50), (5, None),
                                                              (6, 70)]}]))

    runs = polylines(svg, "v1")
    group = svg.find(f".//{SVG}g[@data-series='v1']")

    assert [len(run) for run in runs] == [2, 2]  # the lone value at x 6 is a marker without a line
    assert len([child for child in group if "marker" in (child.get("class") or "")]) == 5


def test_labels_and_titles_are_escaped():
    markup = str(line(title="A <b> & C", series=[{"name": "<&script>", "points": [(0, 1), (1, 2)]}]))
    bars = str(bar_chart(chart_id="b", title="t", description="<&", bars=[{"label": "<&x", "value": 1}]))

    assert "<b>" not in markup and "<&script>" not in markup and "<&x" not in bars
    assert parse(markup).find(f"{SVG}title").text == "A <b> & C"
    assert "<&script>" in texts(parse(markup))  # the legend, once parsed back
    assert "<&x" in texts(parse(bars)) and parse(bars).find(f"{SVG}desc").text == "<&"


def test_series_differ_by_dash_and_marker_not_only_colour():
    svg = parse(line(series=[{"name": "v1", "points": [(0, 1), (1, 2)]}, {"name": "v2", "points": [(0, 3), (1, 4)]}]))
    first, second = (svg.find(f".//{SVG}g[@data-series='{name}']") for name in ("v1", "v2"))

    assert first.find(f"{SVG}polyline").get("stroke-dasharray") != second.find(f"{SVG}polyline").get("stroke-dasharray")
    assert (first[-1].tag, second[-1].tag) == (f"{SVG}circle", f"{SVG}path")  # a circle, then a square
    assert first.find(f"{SVG}polyline").get("stroke") != second.find(f"{SVG}polyline").get("stroke")


def test_a_reference_line_is_drawn_at_its_value_and_named_in_the_legend():
    svg = parse(line(references=[{"label": "alert below 80", "value": 80}]))
    left, top, width, height = plot_area(svg)
    reference = svg.find(f".//{SVG}line[@class='reference']")

    assert float(reference.get("y1")) == pytest.approx(top + height * 0.2, abs=0.06)
    assert reference.get("stroke-dasharray")
    assert "alert below 80" in texts(svg)


def test_dates_and_datetimes_on_the_x_axis():
    days = [date(2026, 11, 1) + timedelta(days=offset) for offset in range(10)]
    svg = parse(line(series=[{"name": "web", "points": [(day, offset) for offset, day in enumerate(days)]}],
                     y_max=None))
    moments = [datetime(2026, 11, 1, 3, tzinfo=timezone.utc) + timedelta(hours=offset) for offset in (0, 6)]
    short = parse(line(series=[{"name": "v1", "points": [(moment, 1) for moment in moments]}], y_max=None))

    assert "1 Nov" in texts(svg) and "10 Nov" in texts(svg)
    assert "1 Nov 03:00" in texts(short) and "1 Nov 09:00" in texts(short)  # under two days: with the time


def test_a_single_point_sits_in_the_middle():
    svg = parse(line(series=[{"name": "v1", "points": [(5, 50)]}]))
    left, top, width, height = plot_area(svg)
    marker = svg.find(f".//{SVG}g[@data-series='v1']/{SVG}circle")

    assert float(marker.get("cx")) == pytest.approx(left + width / 2, abs=0.06)


@pytest.mark.parametrize("series", [[], [{"name": "v1", "points": []}], [{"name": "v1", "points": [(0, None)]}]])
def test_nothing_to_draw_gives_the_sentence_instead(series):
    markup = str(line(series=series, empty="No check has run yet <&."))

    assert markup == '<p class="chart-empty">No check has run yet &lt;&amp;.</p>'


def test_bars_are_proportional_and_highlighted_ones_hatched_and_labelled():
    bars = [{"label": "school", "value": 0.5, "highlight": True}, {"label": "age", "value": 0.25},
            {"label": "G1", "value": None}]
    svg = parse(bar_chart(chart_id="d", title="Drift", description="d", bars=bars, value_max=1,
                          value_format=lambda v: f"{v:.0%}", highlight_word="drifting",
                          reference={"label": "overall", "value": 0.75}))
    left, top, width, height = plot_area(svg)
    school, age, g1 = (svg.find(f".//{SVG}g[@data-label='{name}']") for name in ("school", "age", "G1"))

    assert float(school.find(f"{SVG}rect").get("width")) == pytest.approx(width / 2, abs=0.06)
    assert float(age.find(f"{SVG}rect").get("width")) == pytest.approx(width / 4, abs=0.06)
    assert school.get("data-highlight") == "true" and school.find(f"{SVG}rect").get("fill") == "url(#d-hatch)"
    assert "50% drifting" in texts(school) and "25%" in texts(age)
    assert g1.find(f"{SVG}rect") is None and "no data" in texts(g1)
    reference = svg.find(f".//{SVG}line[@class='reference']")
    assert float(reference.get("x1")) == pytest.approx(left + width * 0.75, abs=0.06)
    assert svg.find(f".//{SVG}pattern").get("id") == "d-hatch"


def test_bars_without_values_give_the_sentence():
    assert "chart-empty" in str(bar_chart(chart_id="e", title="t", description="d", bars=[], empty="None yet."))
    assert "None yet." in str(bar_chart(chart_id="e", title="t", description="d",
                                        bars=[{"label": "a", "value": None}], empty="None yet."))


def test_the_numbers_table_has_a_row_per_x_and_a_column_per_series():
    table = series_table(
        series=[{"name": "v1", "points": [(date(2026, 11, 2), 0.8), (date(2026, 11, 1), 0.9)]},
                {"name": "v2", "points": [(date(2026, 11, 2), None), (date(2026, 11, 3), 0.7)]}],
        x_heading="Day", y_format=lambda v: f"{v:.0%}",
    )

    assert table == {
        "headings": ["Day", "v1", "v2"],
        "rows": [["2026-11-01", "90%", MISSING], ["2026-11-02", "80%", MISSING], ["2026-11-03", MISSING, "70%"]],
    }


def test_the_bars_table_says_which_are_highlighted():
    table = bars_table(bars=[{"label": "school", "value": 0.5, "highlight": True}, {"label": "age", "value": None}],
                       headings=("Feature", "How different", "Drifting"), value_format=lambda v: f"{v:.0%}",
                       highlight_word="drifting")

    assert table["rows"] == [["school", "50%", "yes"], ["age", MISSING, "no"]]


@pytest.mark.parametrize(("low", "high", "fixed", "ticks"), [
    (0, 1, True, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 2.3, False, [0, 0.5, 1.0, 1.5, 2.0, 2.5]),
    (0, 37, False, [0, 10, 20, 30, 40]),
    (0, 0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_nice_ticks(low, high, fixed, ticks):
    assert nice_ticks(low, high, fixed_top=fixed) == pytest.approx(ticks)


def test_a_fixed_x_range_and_the_diagonal_run_corner_to_corner():
    svg = parse(line(series=[{"name": "passed", "points": [(0.25, 0.5), (0.75, 0.5)]}], y_max=1, x_range=(0, 1),
                     x_format=lambda v: f"{v:.0%}", diagonal="perfectly calibrated"))
    left, top, width, height = plot_area(svg)
    diagonal = svg.find(f".//{SVG}line[@class='reference diagonal']")
    [points] = polylines(svg, "passed")

    assert [float(diagonal.get(name)) for name in ("x1", "y1", "x2", "y2")] == pytest.approx(
        [left, top + height, left + width, top], abs=0.06)  # (0, 0) to (1, 1)
    assert diagonal.get("stroke-dasharray")
    assert points == [pytest.approx((left + width / 4, top + height / 2), abs=0.06),
                      pytest.approx((left + width * 3 / 4, top + height / 2), abs=0.06)]  # not stretched to the data
    assert {"0%", "20%", "80%", "100%", "perfectly calibrated"} <= set(texts(svg))


def test_without_a_diagonal_none_is_drawn():
    assert parse(line()).find(f".//{SVG}line[@class='reference diagonal']") is None
