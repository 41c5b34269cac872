"""The reports' pages, drawn with ReportLab (https://docs.reportlab.com/reportlab/userguide/):
A4, large enough type to read at night, and on every page a header naming the ward or clinic,
the time the report was made, "DOWNTIME COPY — valid as of <time>", and "page x of y" (the
count drawn once all pages are laid out)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

MARGIN = 15 * mm
BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=12.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=10, leading=12)
STRONG = ParagraphStyle("strong", parent=SMALL, fontName="Helvetica-Bold")
HEAD = ParagraphStyle("head", parent=BODY, fontName="Helvetica-Bold", fontSize=13, leading=16, spaceBefore=6)
LABEL = ParagraphStyle("label", parent=BODY, fontName="Helvetica-Bold", fontSize=10, spaceBefore=4, spaceAfter=1)
WARNING = ParagraphStyle("warning", parent=BODY, fontName="Helvetica-Bold")


def text(value: Any, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of recorded text, markup in the record printed as text."""
    return Paragraph(escape(str(value)), style)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float]) -> Table:
    """A ruled table with a bold header row that repeats on each page."""
    cells = [[text(h, LABEL) for h in header]]
    cells += [[c if isinstance(c, Flowable) else text(c, SMALL) for c in row] for row in rows]
    shown = Table(cells, colWidths=[w * mm for w in widths], repeatRows=1, hAlign="LEFT")
    shown.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.88, 0.88, 0.88)),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return shown


def section(title: str, parts: list[Flowable]) -> list[Flowable]:
    """A titled part kept on one page where it fits, starting a new page when little is left."""
    return [CondPageBreak(40 * mm), KeepTogether([text(title, HEAD), *parts]), Spacer(1, 3 * mm)]


def render(title: str, made: str, story: list[Flowable]) -> bytes:
    """The PDF of `story` with the downtime header and the page count on every page."""
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 17 * mm,
        bottomMargin=MARGIN + 6 * mm,
        title=f"{title} — downtime copy {made}",
        author="Lifeline",
        subject="Downtime copy",
    )

    class Pages(_Numbered):
        heading, when = title, made

    document.build(story, canvasmaker=Pages)
    return out.getvalue()


class _Numbered(Canvas):
    """A canvas that holds its pages until the end, to draw "page x of y" on each."""

    heading = ""
    when = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (ReportLab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            self._decorate(number, len(self._pages))
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        width, height = A4
        top = height - MARGIN
        self.setFillColor(colors.black)
        room = width - 2 * MARGIN - 30 * mm  # the heading shrinks to stay clear of "Page x of y"
        size = 14.0
        while size > 8 and stringWidth(self.heading, "Helvetica-Bold", size) > room:
            size -= 0.5
        self.setFont("Helvetica-Bold", size)
        self.drawString(MARGIN, top - 5 * mm, self.heading)
        self.setFont("Helvetica-Bold", 11)
        self.drawString(MARGIN, top - 11 * mm, f"DOWNTIME COPY — valid as of {self.when}")
        self.setFont("Helvetica", 9)
        self.drawRightString(width - MARGIN, top - 5 * mm, f"Page {number} of {total}")
        self.drawRightString(width - MARGIN, top - 11 * mm, f"Generated {self.when}")
        self.setLineWidth(1)
        self.line(MARGIN, top - 14 * mm, width - MARGIN, top - 14 * mm)
        self.setFont("Helvetica", 8)
        self.drawString(
            MARGIN,
            MARGIN,
            "Paper copy from Lifeline for use while the record is down. Anything newer than the time above is"
            " not on it. Confidential: patient data.",
        )
        self.drawRightString(width - MARGIN, MARGIN - 4 * mm, f"{self.heading} · page {number} of {total}")
