"""A laboratory test's values over time, as the results part shows them: the series of each test
(`series`, the same data for the chart and for the table of values beside it) and the chart
itself (`svg`), drawn by pygal (https://www.pygal.org/en/stable/documentation/types/xy.html#dates):
per test its reference band and its points, several tests on one time axis; a second unit gets
the right-hand axis. The SVG is served as an image, so its own style and no script: pygal's
config <script> is taken out."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import pygal
import pygal.etree
from babel.dates import format_date
from babel.numbers import format_decimal
from pygal.style import Style
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lifeline.access.errors import Withheld
from lifeline.clock import COPENHAGEN
from lifeline.errors import NotFound
from lifeline.web import i18n
from lifeline.web.pages import acting
from lifeline.web.pages.chart import summary, words
from lifeline.web.pages.chart.page import _ID, Reader, language

# pygal builds its tree with lxml where lxml is installed (a dependency of other packages may
# bring it); the charts are serialised with the standard library's ElementTree, so build with it.
pygal.etree.etree.to_etree()

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

# pygal puts an import hook for its map plugins on sys.meta_path with only the legacy find_module
# (Kozea/pygal#532, open): every later failed import then warns, and an optional `try: import`
# anywhere breaks where warnings are errors. Lifeline draws no maps: the hook goes.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

SVG = "http://www.w3.org/2000/svg"
# A chart's own document: its style inline, nothing else (it is shown as an image).
SVG_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
# Per test: its points' colour and its band's tint, distinct also in grey; at most four tests.
POINTS = ("#1b4f8a", "#a34400", "#5b2a86", "#0b6168")
BANDS = ("#cfe0f2", "#f6dcbf", "#e3d6f0", "#d2e8ea")
ONE_BAND = "#d3ead3"  # one test: its reference band in green, as in "normal"
DASHED = {"width": 1.5, "dasharray": "6,4"}  # several tests: each one's limits


def _style(colours: list[str], small: bool) -> Style:
    """The chart's look; `small` is shown at a phone's width, about its own size: larger letters."""
    letters = 15 if small else 13
    return Style(
        font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1f2328",
        foreground_strong="#1f2328",
        foreground_subtle="#57606a",
        colors=tuple(colours),
        opacity=".8",
        opacity_hover=".8",
        label_font_size=letters,
        major_label_font_size=letters,
        legend_font_size=letters + 1,
        value_font_size=12,
        no_data_font_size=20,
        stroke_width="2",
        stroke_width_hover="2",
        transition="0s",
    )


def series(observations: list[dict[str, Any]], key: str, language: str) -> dict[str, Any]:
    """The numeric results of one test (observations oldest first) with their reference ranges."""
    points: list[dict[str, Any]] = []
    for observation in observations:
        value = (observation.get("valueQuantity") or {}).get("value")
        moment = summary.effective(observation)
        if not isinstance(value, int | float) or isinstance(value, bool) or not moment:
            continue
        if observation.get("status") in ("entered-in-error", "cancelled"):
            continue
        low, high = _range(observation.get("referenceRange"))
        shown, unit = words.quantity(observation.get("valueQuantity"), language)
        points.append(
            {
                "at": moment,
                "when": words.when(moment, language),
                "value": value,
                "shown": shown,
                "unit": unit,
                "low": low,
                "high": high,
                "range": words.reference_range(observation.get("referenceRange"), language),
                "flag": summary.abnormal_flag(observation),
            }
        )
    points.sort(key=lambda p: words.in_order(p["when"]))
    named = observations[-1] if observations else {}
    return {
        "code": key,
        "name": words.concept(named.get("code")) or key,
        "unit": points[-1]["unit"] if points else "",
        "points": points,
    }


def svg(tests: list[dict[str, Any]], language: str, labels: dict[str, str], small: bool = False) -> bytes:
    """The chart of `tests` (from `series`) on one time axis, as an SVG document; `small` for a
    phone's width. `labels` holds the words in the reader's language: "range", "left", "right",
    "none" (no results)."""
    units = list(dict.fromkeys(t["unit"] for t in tests if t["points"]))
    two_axes = len(units) > 1
    moments = [_moment(p["at"]) for t in tests for p in t["points"]]
    long = len(moments) > 1 and (max(moments) - min(moments)).days > 180
    axis_dates = (words.MONTH if long else words.DAY)[language]
    drawn = [t for t in tests if t["points"]] or tests[:1]
    # One test: its reference band filled. Several: each one's limits as dashed lines in its
    # colour, as filled bands on two scales would lie over each other.
    one = len(drawn) == 1
    added: list[tuple[dict[str, Any], str]] = []  # (the series, its colour)
    for index, test in enumerate(drawn):  # the bands first, under every line
        band = _band(test["points"], closed=one)
        secondary = two_axes and test["unit"] != units[0]
        if band:
            shape = {"fill": True} if one else {"allow_interruptions": True, "stroke_style": DASHED}
            title = f"{labels['range']}: {test['name']}" if one else None  # several: said under the chart
            series = {"title": title, "values": band, "secondary": secondary, "show_dots": False, **shape}
            added.append((series, ONE_BAND if one else POINTS[index % len(POINTS)]))
    for index, test in enumerate(drawn):
        secondary = two_axes and test["unit"] != units[0]
        side = f", {labels['right'] if secondary else labels['left']}" if two_axes else ""
        unit = f" ({test['unit']}{side})" if test["unit"] else ""
        values = [
            {
                "value": (_moment(p["at"]), p["value"]),
                "tooltip": f"{test['name']} {p['shown']} {p['unit']}, {(p['when'] or {}).get('text', '')}",
            }
            for p in test["points"]
        ]
        series = {"title": f"{test['name']}{unit}", "values": values, "secondary": secondary}
        added.append((series, POINTS[index % len(POINTS)]))
    # pygal colours the left axis's series first, then the right's, each in the order added.
    colours = [c for a, c in added if not a["secondary"]] + [c for a, c in added if a["secondary"]]
    chart = pygal.DateTimeLine(
        width=360 if small else 960,
        height=360,
        style=_style(colours, small),
        js=[],
        css=["file://style.css", "file://graph.css"],
        disable_xml_declaration=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=1 if small else 2,
        truncate_legend=-1,
        truncate_label=-1,
        show_x_guides=False,
        dots_size=4,
        min_scale=3,
        max_scale=4 if small else 10,
        no_data_text=labels["none"],
        x_value_formatter=lambda moment: str(format_date(moment, axis_dates, locale=language)),
        value_formatter=lambda value: str(format_decimal(value, "#,##0.##", locale=language)),
        margin=12,
    )
    for series, _ in added:
        chart.add(series.pop("title"), series.pop("values"), **series)
    return document(chart)


def document(chart: pygal.graph.graph.Graph) -> bytes:
    """A pygal chart as the SVG document served as an image: without pygal's <script>."""
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag in ("script", f"{{{SVG}}}script"):
                parent.remove(child)  # pygal's config for its own scripts: none run in an image
    return ElementTree.tostring(tree, encoding="utf-8")


def _range(ranges: list[dict[str, Any]] | None) -> tuple[float | None, float | None]:
    first = (ranges or [{}])[0]
    low, high = (first.get("low") or {}).get("value"), (first.get("high") or {}).get("value")
    return (
        low if isinstance(low, int | float) else None,
        high if isinstance(high, int | float) else None,
    )


def _band(points: list[dict[str, Any]], closed: bool) -> list[tuple[datetime, float | None]]:
    """The reference range over time: `closed`, one outline to fill (the lows forward in time,
    the highs back); else the low and the high limit as two lines, broken between them. A range
    with only a high limit starts at 0. Empty where no result had a numeric range."""
    ranged = [p for p in points if p["high"] is not None]
    if not ranged:
        return []
    lows: list[tuple[datetime, float | None]] = [(_moment(p["at"]), float(p["low"] or 0)) for p in ranged]
    highs: list[tuple[datetime, float | None]] = [(_moment(p["at"]), float(p["high"])) for p in ranged]
    if closed:
        return [*lows, *reversed(highs), lows[0]]
    return [*lows, (lows[-1][0], None), *highs]


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=COPENHAGEN)).astimezone(COPENHAGEN)


def image(
    service: FhirService,
    chosen: Callable[[Request], Any],
    curves: Callable[[Reader, Any, str, Callable[[str], str]], list[dict[str, Any]]],
    none: str,
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a part's chart image (results, vital signs): the request's choice checked
    (`chosen`: BadRequest for a bad one), the patient read first as the clinician (outside care:
    403 and nothing drawn), then the series `curves(reader, choice, language, gettext)` drawn,
    `none` (a message id) where a series is empty; `?size=small` is a phone's width."""

    def drawn(request: Request) -> Response:
        patient_id, reader_language = request.path_params["id"], language()
        if not _ID.fullmatch(patient_id):
            raise NotFound(f"Patient/{patient_id} is not known")
        choice = chosen(request)
        read = Reader(acting(service, request), patient_id)
        read.read_patient()  # first: outside care, nothing else is asked
        gettext = i18n.translations(reader_language).gettext
        found = curves(read, choice, reader_language, gettext)
        labels = {
            "range": gettext("Reference range"),
            "left": gettext("left axis"),
            "right": gettext("right axis"),
            "none": gettext(none),
        }
        small = request.query_params.get("size") == "small"  # a phone's width: the page's <picture> asks
        return Response(svg(found, reader_language, labels, small), headers=SVG_HEADERS, media_type="image/svg+xml")

    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(drawn, request)
        except Withheld:
            return Response("Not in your care", status_code=403, headers=SVG_HEADERS, media_type="text/plain")

    return endpoint
