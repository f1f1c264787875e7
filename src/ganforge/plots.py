"""Charts drawn with matplotlib (off-screen, Agg): line charts as inline SVG for reports, scatter plots as images.

matplotlib is imported on first use, so `import ganforge` stays light. Every line of a chart is an SVG group
with an id of its own (`<chart id>-s<k>`) and is drawn without path simplification, so one vertex stands for one
finite data point: a report's reader (or a browser test) can count them.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
REAL_COLOUR, FAKE_COLOUR = "#8c8c8c", "#1f77b4"


@dataclass
class Series:
    """One line: its label and (step, value) points."""

    label: str
    steps: list[int]
    values: list[float]

    @property
    def finite_points(self) -> int:
        return sum(1 for v in self.values if v is not None and math.isfinite(v))


@dataclass
class Chart:
    """A line chart: several series over steps, with marked steps (diagnostics' warnings) as vertical lines."""

    chart_id: str
    title: str
    ylabel: str
    series: list[Series]
    marks: list[tuple[int, str]] = field(default_factory=list)  # (step, short label)
    log_y: bool = False


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def chart_svg(chart: Chart, width: float = 6.4, height: float = 3.2) -> str:
    """The chart as an <svg> element (text kept as text, no embedded glyphs), ready to inline in HTML."""
    plt = _pyplot()
    import matplotlib

    style = {"svg.fonttype": "none", "svg.hashsalt": chart.chart_id, "path.simplify": False,
             "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
    with matplotlib.rc_context(style):
        figure, axes = plt.subplots(figsize=(width, height))
        try:
            for k, series in enumerate(chart.series):
                values = np.array([np.nan if v is None else v for v in series.values], dtype=float)
                if chart.log_y:
                    values = np.where(values > 0, values, np.nan)
                (line,) = axes.plot(series.steps, values, color=PALETTE[k % len(PALETTE)], linewidth=1.3,
                                    marker="." if len(series.steps) < 30 else None, markersize=3,
                                    label=series.label)
                line.set_gid(f"{chart.chart_id}-s{k}")
            for step, label in chart.marks:
                axes.axvline(step, color="#d62728", linestyle="--", linewidth=0.8, alpha=0.7)
                axes.annotate(label, (step, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                              color="#d62728", va="top", ha="right")
            if chart.log_y:
                axes.set_yscale("log")
            axes.set_title(chart.title, loc="left", fontsize=10)
            axes.set_xlabel("step")
            axes.set_ylabel(chart.ylabel)
            axes.grid(alpha=0.25)
            if chart.series:
                axes.legend(fontsize=7, frameon=False, loc="best")
            figure.tight_layout()
            buffer = io.StringIO()
            figure.savefig(buffer, format="svg")
        finally:
            plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: not allowed inside HTML
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF and a date: nothing to show


def scatter_png(points: np.ndarray, reference: np.ndarray | None = None, caption: str = "",
                size_px: int = 512) -> bytes:
    """2-D samples over the real data: axes, the real points in grey, the samples in blue, a legend; PNG bytes."""
    plt = _pyplot()
    dpi = 100
    figure, axes = plt.subplots(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    try:
        if reference is not None and len(reference):
            axes.scatter(reference[:, 0], reference[:, 1], s=5, c=REAL_COLOUR, alpha=0.7, linewidths=0,
                         label=f"real ({len(reference):,})")
        finite = points[np.isfinite(points).all(axis=1)] if len(points) else points
        axes.scatter(finite[:, 0], finite[:, 1], s=5, c=FAKE_COLOUR, alpha=0.8, linewidths=0,
                     label=f"generated ({len(finite):,})")
        axes.set_aspect("equal", adjustable="datalim")
        axes.grid(alpha=0.25)
        axes.legend(loc="upper right", fontsize=8, markerscale=3, framealpha=0.8)
        if caption:
            axes.set_title(caption, fontsize=9, loc="left")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def series_from(records: Sequence[dict[str, Any]], key: str, label: str | None = None) -> Series | None:
    """The (step, value) points of `key` in the records that have it; None when none has it."""
    points = [(int(r["step"]), r[key]) for r in records if key in r and isinstance(r[key], (int, float, type(None)))
              and not isinstance(r[key], bool)]
    if not points:
        return None
    return Series(label or key, [s for s, _ in points], [None if v is None else float(v) for _, v in points])
