"""Server-rendered SVG charts: the geometry is worked out here, templates draw it.

No chart library and no inline styles: shapes carry classes (styled in assets/css/app.css) and
presentation attributes, so the page works under a Content-Security-Policy without
'unsafe-inline' and shows a chart with JavaScript off.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date
from flask_babel import gettext as _

from blueprints.rendering import formatting_locale
from services.race_stats import DayCount

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 62, 14, 36  # room for four-digit labels at a phone's larger type
WEEKLY_AFTER_DAYS = 92  # longer than a quarter: one bar per week keeps bars wide enough to see
# A day or two of sales drawn across the whole width is one slab with no line to see: the axis always spans at
# least a week (the quiet days before the first sale) and a bar is never wider than a thick finger.
MIN_SLOTS = 7
MAX_BAR_WIDTH = 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str   # "Tue 3 Mar" or "Week of 2 Mar"
    count: int
    cumulative: int
    before_sales: bool = False  # a quiet day before the first sale, there to give the axis its span


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
    line_end: tuple[float, float]  # where the running total is now, marked with a dot
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
    def sales_bars(self) -> list[Bar]:
        """The bars from the first sale on: what the chart draws and its table lists."""
        return [bar for bar in self.bars if not bar.before_sales]

    @property
    def summary(self) -> str:
        values = {"total": self.total, "first": self.sales_bars[0].label, "last": self.bars[-1].label,
                  "best": self.best.label, "count": self.best.count}
        if self.weekly:
            return _("%(total)d tickets sold from %(first)s to %(last)s; the busiest week was %(best)s with %(count)d.",
                     **values)
        return _("%(total)d tickets sold from %(first)s to %(last)s; the busiest day was %(best)s with %(count)d.",
                 **values)


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
    quiet_days = max(0, MIN_SLOTS - len(buckets))
    start = buckets[0][0]
    buckets = [(start - timedelta(days=n), 0, 0) for n in range(quiet_days, 0, -1)] + buckets
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_count = _nice_max(max(count for _, count, _ in buckets))
    top_total = _nice_max(buckets[-1][2])
    slot = plot_width / len(buckets)
    width = min(slot * 0.8, slot - 1, MAX_BAR_WIDTH)

    def total_y(total: int) -> float:
        return round(TOP + plot_height - plot_height * total / top_total, 1)

    # The running total starts at the left edge from what was sold before the first bar, so even one bar has a line.
    first_day, first_count, first_cumulative = buckets[0]
    points = [(float(LEFT), total_y(first_cumulative - first_count))]
    bars = []
    for i, (day, count, cumulative) in enumerate(buckets):
        height = plot_height * count / top_count
        middle = LEFT + i * slot + slot / 2
        label = _("Week of %(day)s", day=_day(day, "d MMM")) if weekly else _day(day, "EEE d MMM")
        bars.append(Bar(round(middle - width / 2, 2), round(TOP + plot_height - height, 2), round(width, 2),
                        round(height, 2), label, count, cumulative, before_sales=i < quiet_days))
        points.append((round(middle, 1), total_y(cumulative)))

    def ticks(top: int) -> list[Tick]:
        return [Tick(round(TOP + plot_height - plot_height * f, 2), str(round(top * f))) for f in (0, 0.5, 1)
                if f == 0 or top * f == int(top * f)]

    every = max(1, -(-len(buckets) // 5))  # at most five dates: they must fit under the chart on a phone too
    last = len(buckets) - 1
    bottom = [Tick(round(b.x + b.width / 2, 2), _day(buckets[i][0], "d MMM"))
              for i, b in enumerate(bars) if (last - i) % every == 0]  # counted back from the latest, always shown
    best = max(bars, key=lambda b: (b.count, -b.x))
    return SalesChart(WIDTH, HEIGHT, bars, " ".join(f"{x},{y}" for x, y in points), points[-1], ticks(top_count),
                      ticks(top_total), bottom, weekly, buckets[-1][2], best)


def _day(day: date, pattern: str) -> str:
    """A day on the chart in the page's language: "Sat 14 Mar", "sáb 14 mar"."""
    return format_date(day, pattern, locale=formatting_locale())
