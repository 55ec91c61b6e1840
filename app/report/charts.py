"""The report's charts as inline SVG: pass rates with Wilson intervals, the lift against the
minimum detectable lift. Drawn here, from numbers; every label is escaped.

Each chart is 360 units wide, about the width of its card on a desktop and of a phone screen,
so its text stays at reading size everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.report.html import Markup, el, join

WIDTH = 360
LEFT, RIGHT = 10, 350
INK, MUTED, GRID = "#1f2937", "#4b5563", "#d5dae3"
BAR, TRACK, FAIL = "#3559c7", "#e6eaf2", "#b42318"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def points(value: float) -> str:
    return f"{100 * value:+.0f}"


@dataclass(frozen=True)
class RateBar:
    title: str
    passes: int
    n: int
    rate: float | None
    low: float
    high: float
    provably_fails: bool = False


def _text(x: float, y: float, body: object, **attrs: object) -> Markup:
    attrs.setdefault("fill", INK)
    attrs.setdefault("font_size", 12)
    return el("text", body, x=f"{x:.1f}", y=f"{y:.1f}", **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, **attrs: object) -> Markup:
    return el("line", x1=f"{x1:.1f}", y1=f"{y1:.1f}", x2=f"{x2:.1f}", y2=f"{y2:.1f}", **attrs)


def _svg(height: float, title: str, desc: str, body: list[Markup]) -> Markup:
    return el(
        "svg",
        el("title", title),
        el("desc", desc),
        *body,
        viewBox=f"0 0 {WIDTH} {height:.0f}",
        role="img",
        class_="chart",
        xmlns="http://www.w3.org/2000/svg",
        font_family="inherit",
    )


def _whisker(x1: float, x2: float, y: float, color: str = INK) -> Markup:
    return join(
        [
            _line(x1, y, x2, y, stroke=color, stroke_width=2),
            _line(x1, y - 6, x1, y + 6, stroke=color, stroke_width=2),
            _line(x2, y - 6, x2, y + 6, stroke=color, stroke_width=2),
        ]
    )


def pass_rate_chart(bars: list[RateBar], max_failure_rate: float | None) -> Markup:
    """One bar per arm, its Wilson 95% interval as a whisker, and the acceptable pass rate
    (1 - the acceptable failure rate) as a dashed line: a whisker wholly left of the line is
    an arm that provably fails. No line when `max_failure_rate` is None (a subset of the
    cases, which the acceptable rate is not about)."""
    span = RIGHT - LEFT
    row, top = 54, 22
    target = None if max_failure_rate is None else 1 - max_failure_rate
    height = top + row * len(bars) + 22
    body: list[Markup] = []
    if target is not None:
        label = f"dashed line: acceptable ≥ {pct(target)}"
        body.append(_text(RIGHT, 10, label, text_anchor="end", fill=MUTED, font_size=11))
    for i, bar in enumerate(bars):
        y = top + i * row
        body.append(_text(LEFT, y + 12, bar.title, font_weight=600))
        if bar.rate is None:
            body.append(_text(RIGHT, y + 12, "no labelled cases", text_anchor="end", fill=MUTED))
            continue
        value = f"{pct(bar.rate)} ({bar.passes}/{bar.n}) · CI {pct(bar.low)}–{pct(bar.high)}"
        body.append(_text(RIGHT, y + 12, value, text_anchor="end"))
        body.append(
            el("rect", x=LEFT, y=y + 20, width=span, height=16, rx=3, fill=TRACK, class_="track")
        )
        width = max(bar.rate * span, 0.0)
        if width > 0:
            body.append(
                el("rect", x=LEFT, y=y + 20, width=f"{width:.1f}", height=16, rx=3, fill=BAR)
            )
        if target is not None:
            tx = LEFT + target * span
            dashes = {"stroke": INK, "stroke_width": 1.5, "stroke_dasharray": "4 3"}
            body.append(_line(tx, y + 16, tx, y + 40, **dashes))
        body.append(_whisker(LEFT + bar.low * span, LEFT + bar.high * span, y + 28))
        if bar.provably_fails:
            body.append(
                _text(LEFT, y + 50, "provably below the acceptable rate", fill=FAIL, font_size=11)
            )
    axis_y = top + row * len(bars) + 2
    for tick in (0, 0.5, 1):
        anchor = {0: "start", 0.5: "middle", 1: "end"}[tick]
        body.append(
            _text(LEFT + tick * span, axis_y + 16, pct(tick), text_anchor=anchor, fill=MUTED)
        )
    summary = "; ".join(
        f"{b.title} {pct(b.rate)} (95% CI {pct(b.low)} to {pct(b.high)})" for b in bars
    )
    target_words = f" Acceptable pass rate {pct(target)}." if target is not None else ""
    return _svg(height, "Pass rate per arm", f"{summary}.{target_words}", body)


def lift_chart(value: float | None, low: float, high: float, mdl: float | None, n: int) -> Markup:
    """The lift from the facts in points, with its Newcombe 95% interval, on a -100..+100
    axis; the band ±MDL is what this many cases cannot reliably detect."""
    span = RIGHT - LEFT

    def x(v: float) -> float:
        return LEFT + (max(-1.0, min(1.0, v)) + 1) / 2 * span

    axis_y, height, band_top = 84, 126, 28
    body: list[Markup] = []
    if mdl is not None:
        body.append(
            el(
                "rect",
                x=f"{x(-mdl):.1f}",
                y=band_top,
                width=f"{x(mdl) - x(-mdl):.1f}",
                height=axis_y - band_top,
                fill="#eef0f4",
                stroke=GRID,
            )
        )
        body.append(
            _text(
                x(0),
                height - 6,
                f"shaded: lifts under {100 * mdl:.0f} points go undetected at n = {n}",
                text_anchor="middle",
                fill=MUTED,
                font_size=11,
            )
        )
    body.append(_line(LEFT, axis_y, RIGHT, axis_y, stroke=MUTED, stroke_width=1))
    body.append(_line(x(0), band_top, x(0), axis_y, stroke=INK, stroke_width=1.5))
    for tick in (-1.0, -0.5, 0.0, 0.5, 1.0):
        anchor = "start" if tick == -1 else "end" if tick == 1 else "middle"
        label = "0" if tick == 0 else points(tick)
        body.append(_line(x(tick), axis_y, x(tick), axis_y + 4, stroke=MUTED))
        body.append(_text(x(tick), axis_y + 17, label, text_anchor=anchor, fill=MUTED))
    if value is None:
        body.append(_text(x(0), 56, "no labelled cases", text_anchor="middle", fill=MUTED))
        desc = "No confidently labelled cases: no lift to show."
    else:
        body.append(_whisker(x(low), x(high), 56))
        body.append(el("circle", cx=f"{x(value):.1f}", cy=56, r=6, fill=BAR, stroke="#fff"))
        anchor = "start" if value < -0.6 else "end" if value > 0.6 else "middle"
        label = f"{points(value)} points (CI {points(low)} to {points(high)})"
        body.append(_text(x(value), 18, label, text_anchor=anchor, font_weight=600))
        desc = f"Lift {label}; the minimum detectable lift is " + (
            f"{100 * mdl:.0f} points." if mdl is not None else "unknown."
        )
    return _svg(height, "Lift from the facts", desc, body)


@dataclass(frozen=True)
class DifferenceRow:
    title: str
    value: float | None
    low: float
    high: float
    decision: str


def difference_chart(rows: list[DifferenceRow], margin: float) -> Markup:
    """Per arm, the paired difference (candidate - baseline) in points with its 95% interval,
    against the shaded ±margin band: an interval inside the band is equivalent, one wholly
    beyond it better or worse."""
    ends = [abs(v) for r in rows if r.value is not None for v in (r.low, r.high)]
    reach = max([2 * margin, 0.2, *ends])
    reach = min(1.0, -(-round(reach, 6) // 0.2) * 0.2)  # up to the next 0.2: ticks of 10s
    span = RIGHT - LEFT

    def x(v: float) -> float:
        return LEFT + (max(-reach, min(reach, v)) + reach) / (2 * reach) * span

    row, top = 52, 8
    axis_y = top + row * len(rows)
    height = axis_y + 44
    body: list[Markup] = [_line(LEFT, axis_y, RIGHT, axis_y, stroke=MUTED, stroke_width=1)]
    for tick in (-reach, -reach / 2, 0.0, reach / 2, reach):
        anchor = "start" if tick == -reach else "end" if tick == reach else "middle"
        body.append(_line(x(tick), axis_y, x(tick), axis_y + 4, stroke=MUTED))
        label = "0" if tick == 0 else points(tick)
        body.append(_text(x(tick), axis_y + 17, label, text_anchor=anchor, fill=MUTED))
    body.append(
        _text(
            x(0),
            height - 6,
            f"shaded: within ±{100 * margin:.0f} points counts as equivalent",
            text_anchor="middle",
            fill=MUTED,
            font_size=11,
        )
    )
    words = []
    for i, r in enumerate(rows):
        y = top + i * row
        # The band and the zero line under this row's whisker only, clear of its label.
        body.append(
            el(
                "rect",
                x=f"{x(-margin):.1f}",
                y=y + 20,
                width=f"{x(margin) - x(-margin):.1f}",
                height=row - 20,
                fill="#eef0f4",
                stroke=GRID,
            )
        )
        body.append(_line(x(0), y + 20, x(0), y + row, stroke=INK, stroke_width=1.5))
        if r.value is None:
            body.append(_text(LEFT, y + 14, f"{r.title}: no paired cases", fill=MUTED))
            words.append(f"{r.title}: no paired cases")
            continue
        label = (
            f"{r.title}: {points(r.value)} (CI {points(r.low)} to {points(r.high)}) · {r.decision}"
        )
        body.append(_text(LEFT, y + 14, label, font_weight=600))
        color = FAIL if r.decision == "worse" else BAR
        body.append(_whisker(x(r.low), x(r.high), y + 36, color))
        body.append(el("circle", cx=f"{x(r.value):.1f}", cy=y + 36, r=6, fill=color, stroke="#fff"))
        words.append(label)
    return _svg(height, "Paired difference per arm", "; ".join(words) + ".", body)
