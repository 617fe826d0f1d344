"""Server-rendered SVG charts: the geometry is worked out here, templates draw it.

No chart library and no inline styles: shapes carry classes (styled in app.css) and
presentation attributes, so the page works under a Content-Security-Policy without
'unsafe-inline' and shows a chart with JavaScript off.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.race_stats import DayCount

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 54, 14, 36
WEEKLY_AFTER_DAYS = 92  # longer than a quarter: one bar per week keeps bars wide enough to see


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str   # "Tue 3 Mar" or "Week of 2 Mar"
    count: int
    cumulative: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class SalesChart:
    width: int
    height: int
    bars: list[Bar]
    line: str              # polyline points of the running total
    left_ticks: list[Tick]   # tickets per bar
    right_ticks: list[Tick]  # running total
    bottom_ticks: list[Tick]
    weekly: bool
    total: int
    best: Bar
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM

    @property
    def summary(self) -> str:
        unit = "week" if self.weekly else "day"
        first, last = self.bars[0].label, self.bars[-1].label
        return (f"{self.total} tickets sold from {first} to {last}; the busiest {unit} was {self.best.label} "
                f"with {self.best.count}.")


def _nice_max(value: int) -> int:
    """A round number at or above `value` for the top of an axis (1, 2, 5, 10, 20, 50…)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _buckets(days: list[DayCount]) -> tuple[list[tuple[date, int, int]], bool]:
    if len(days) <= WEEKLY_AFTER_DAYS:
        return [(d.day, d.count, d.cumulative) for d in days], False
    weeks: dict[date, list[int]] = {}
    for d in days:
        monday = d.day - timedelta(days=d.day.weekday())
        entry = weeks.setdefault(monday, [0, 0])
        entry[0] += d.count
        entry[1] = d.cumulative
    return [(monday, count, cumulative) for monday, (count, cumulative) in weeks.items()], True


def sales_chart(days: list[DayCount]) -> SalesChart | None:
    """Tickets sold per day (per week over a long period) as bars, with the running total as a line."""
    if not days:
        return None
    buckets, weekly = _buckets(days)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_count = _nice_max(max(count for _, count, _ in buckets))
    top_total = _nice_max(buckets[-1][2])
    slot = plot_width / len(buckets)
    gap = min(slot * 0.2, 6)
    bars, points = [], []
    for i, (day, count, cumulative) in enumerate(buckets):
        height = plot_height * count / top_count
        x = LEFT + i * slot
        label = f"Week of {day.day} {day:%b}" if weekly else f"{day:%a} {day.day} {day:%b}"
        bars.append(Bar(round(x + gap / 2, 2), round(TOP + plot_height - height, 2), round(max(slot - gap, 1), 2),
                        round(height, 2), label, count, cumulative))
        points.append(f"{x + slot / 2:.1f},{TOP + plot_height - plot_height * cumulative / top_total:.1f}")

    def ticks(top: int) -> list[Tick]:
        return [Tick(round(TOP + plot_height - plot_height * f, 2), str(round(top * f))) for f in (0, 0.5, 1)
                if f == 0 or top * f == int(top * f)]

    every = max(1, round(len(buckets) / 6))
    bottom = [Tick(round(b.x + b.width / 2, 2), f"{buckets[i][0].day} {buckets[i][0]:%b}")
              for i, b in enumerate(bars) if i % every == 0]
    best = max(bars, key=lambda b: (b.count, -b.x))
    return SalesChart(WIDTH, HEIGHT, bars, " ".join(points), ticks(top_count), ticks(top_total),
                      bottom, weekly, buckets[-1][2], best)
