"""The daily revenue chart as inline SVG, drawn here: no script, no library in the browser.

One bar a day (net money in: top-ups less chargebacks), below the line on a day that gave back
more than came in; each bar carries its day and kopecks (data-day, data-kopecks) and a tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from medialab.domain.money import format_rub

WIDTH, HEIGHT = 600, 180
TOP, BOTTOM = 26, 26  # room for the scale's label above, the days' labels below (18 px text)
GAP = 0.2  # of each day's slot left empty between bars


def revenue_svg(days: Sequence[tuple[date, int]]) -> Markup:
    highest = max((amount for _, amount in days), default=0)
    lowest = min((amount for _, amount in days), default=0)
    span = (max(highest, 0) - min(lowest, 0)) or 1
    plot = HEIGHT - TOP - BOTTOM
    zero = TOP + plot * max(highest, 0) / span  # y of the 0 ₽ line
    slot = WIDTH / max(len(days), 1)
    bars = []
    for number, (day, amount) in enumerate(days):
        size = plot * abs(amount) / span
        y = zero - size if amount >= 0 else zero
        bars.append(
            f'<rect class="{"bar" if amount >= 0 else "bar negative"}" x="{number * slot + slot * GAP / 2:.1f}" '
            f'y="{y:.1f}" width="{slot * (1 - GAP):.1f}" height="{max(size, 0.5 if amount else 0):.1f}" '
            f'data-day="{day.isoformat()}" data-kopecks="{amount}"><title>{day.isoformat()}: '
            f'{escape(format_rub(amount))}</title></rect>')
    labels = []
    if days:
        labels.append(_label(0, HEIGHT - 6, days[0][0].strftime("%d.%m"), "start"))
        labels.append(_label(WIDTH, HEIGHT - 6, days[-1][0].strftime("%d.%m"), "end"))
    labels.append(_label(0, TOP - 4, f"max {format_rub(highest)}", "start"))
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="net money in per day" xmlns="http://www.w3.org/2000/svg">'
        f'<line class="axis" x1="0" x2="{WIDTH}" y1="{zero:.1f}" y2="{zero:.1f}"/>{"".join(bars)}{"".join(labels)}</svg>')


def _label(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}">{escape(text)}</text>'
