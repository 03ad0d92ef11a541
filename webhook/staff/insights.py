"""Insights at /staff/insights: counts over a period, each chart drawn on the server as SVG (matplotlib)
and shown as an image from a data: URL, so the Content-Security-Policy needs nothing new; every chart
has a text alternative and its numbers in a table, and the same numbers download as CSV."""
from __future__ import annotations

import base64
import csv
import io
from datetime import date
from typing import TYPE_CHECKING

from flask import Response, render_template, request

from bot import insights
from bot.db import session_scope
from bot.office_hours import local_now
from webhook.staff import bp
from webhook.staff.auth import audit, audit_view, staff_required

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Colours that stay apart for colour-blind readers and in greyscale; the second series is hatched too.
BLUE, ORANGE, INK = "#1d70b8", "#f47738", "#0b0c0c"


def _data_url(figure: Figure) -> str:
    """The figure as an SVG image in a data: URL (img-src allows data:; the SVG's own styles stay inside
    the image, out of the page's style-src)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(height: float = 3.2) -> tuple[Figure, object]:
    # Loaded when a chart is first drawn (it takes over a second), not each time the app starts.
    from matplotlib.figure import Figure

    # A Figure of its own per chart, never pyplot: no global state shared between request threads.
    figure = Figure(figsize=(6.5, height), dpi=96)  # narrow, so that its words stay legible on a phone
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(colors=INK, labelsize=10)
    return figure, axes


def _day_label(day: date) -> str:
    return day.strftime("%d %b").lstrip("0")


def messages_chart(days: list[insights.DayCount]) -> str:
    figure, axes = _figure()
    positions = range(len(days))
    axes.bar(positions, [d.sms for d in days], color=BLUE, label="SMS")
    axes.bar(positions, [d.web for d in days], bottom=[d.sms for d in days], color=ORANGE, hatch="//",
             edgecolor=INK, linewidth=0.3, label="Website chat")
    step = max(1, -(-len(days) // 8))  # at most 8 dates under the bars
    axes.set_xticks(list(positions)[::step], [_day_label(d.day) for d in days][::step])
    axes.set_ylabel("Messages from families")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False)
    return _data_url(figure)


def horizontal_chart(labels: list[str], values: list[int], x_label: str) -> str:
    figure, axes = _figure(height=max(1.6, 0.35 * len(labels) + 0.8))
    positions = range(len(labels))
    axes.barh(positions, values, color=BLUE)
    axes.set_yticks(list(positions), labels)
    axes.invert_yaxis()  # the largest first, as in the table
    axes.set_xlabel(x_label)
    axes.xaxis.get_major_locator().set_params(integer=True)
    for position, value in zip(positions, values):
        axes.annotate(str(value), (value, position), xytext=(3, 0), textcoords="offset points", va="center",
                      fontsize=9, color=INK)
    return _data_url(figure)


def weekly_chart(weeks: list[str], first: list[float], second: list[float], names: tuple[str, str],
                 y_label: str) -> str:
    figure, axes = _figure()
    width = 0.4
    axes.bar([n - width / 2 for n in range(len(weeks))], first, width, color=BLUE, label=names[0])
    axes.bar([n + width / 2 for n in range(len(weeks))], second, width, color=ORANGE, hatch="//",
             edgecolor=INK, linewidth=0.3, label=names[1])
    step = max(1, -(-len(weeks) // 6))  # at most 6 weeks named under the bars
    axes.set_xticks(list(range(len(weeks)))[::step], weeks[::step])
    axes.set_ylabel(y_label)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False)
    return _data_url(figure)


def _charts(found: insights.Insights) -> dict[str, dict[str, str]]:
    """Each chart as {"src": its data: URL, "alt": what it shows, in words}; a chart with nothing to show
    is left out (its table says so)."""
    days = found.days
    busiest = max(days, key=lambda d: d.sms + d.web)
    charts = {"messages": {"src": messages_chart(days), "alt": (
        f"Bar chart of messages from families each day, by channel: {sum(d.sms for d in days)} by SMS and "
        f"{sum(d.web for d in days)} by website chat in all"
        + (f"; the busiest day was {_day_label(busiest.day)} with {busiest.sms + busiest.web}."
           if busiest.sms + busiest.web else ".") + " Each day's numbers are in the table below.")}}
    if found.top_topics:
        top = found.top_topics
        charts["topics"] = {"src": horizontal_chart([t.intent for t in top], [t.asked for t in top], "Times asked"),
                            "alt": f"Bar chart of the {len(top)} most asked topics: "
                                   + "; ".join(f"{t.intent} {t.asked}" for t in top) + "."}
    if found.handovers:
        charts["handovers"] = {
            "src": horizontal_chart([h.label for h in found.handovers], [h.count for h in found.handovers],
                                    "Hand-overs"),
            "alt": "Bar chart of hand-overs to staff by reason: "
                   + "; ".join(f"{h.label} {h.count}" for h in found.handovers) + "."}
    urgent, weeks = found.urgent_weeks, [w.week for w in found.urgent_weeks]
    if any(w.claimed for w in urgent):
        charts["urgent"] = {
            "src": weekly_chart(weeks, [w.median_minutes or 0 for w in urgent], [w.worst_minutes or 0 for w in urgent],
                                ("Median", "Worst"), "Minutes to claim"),
            "alt": "Bar chart of the median and worst minutes to claim an urgent escalation, each week: "
                   + "; ".join(f"{w.week} median {minutes(w.median_minutes)}, worst {minutes(w.worst_minutes)}"
                               for w in urgent if w.urgent) + "."}
    delivery = found.delivery_weeks
    if any(w.not_delivered or w.staff_alerts_not_delivered for w in delivery):
        charts["delivery"] = {
            "src": weekly_chart(weeks, [w.not_delivered for w in delivery],
                                [w.staff_alerts_not_delivered for w in delivery],
                                ("To families", "Alerts to on-call staff"), "SMS not delivered"),
            "alt": "Bar chart of SMS not delivered each week: "
                   + "; ".join(f"{w.week} {w.not_delivered} to families, {w.staff_alerts_not_delivered} alerts "
                               "to on-call staff" for w in delivery) + "."}
    return charts


def _requested_period() -> insights.Period:
    return insights.parse_period(request.args.get("start"), request.args.get("end"), local_now().date())


@bp.get("/insights")
@staff_required()
def insights_page():
    try:
        period = _requested_period()
    except insights.PeriodError as error:
        return render_template("staff/insights.html", error=str(error), start=request.args.get("start", ""),
                               end=request.args.get("end", ""), found=None), 400
    with session_scope() as db:
        found = insights.gather(db, period)
        audit_view(db, "view_insights", f"{period.start} to {period.end}")
    return render_template("staff/insights.html", error=None, start=period.start.isoformat(),
                           end=period.end.isoformat(), found=found, charts=_charts(found))


@bp.get("/insights.csv")
@staff_required()
def insights_csv():
    try:
        period = _requested_period()
    except insights.PeriodError as error:
        return Response(str(error), status=400, mimetype="text/plain")
    with session_scope() as db:
        rows = insights.csv_rows(insights.gather(db, period))
        audit(db, "download_insights", target=f"{period.start} to {period.end}")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="harbour-insights-{period.start}-to-{period.end}.csv"'})


@bp.app_template_filter("percent")
def percent(rate: float | None) -> str:
    """0.125 -> '13%'; no messages to count -> 'none to count'."""
    return "none to count" if rate is None else f"{rate:.0%}"


@bp.app_template_filter("long_day")
def long_day(day: date) -> str:
    return day.strftime("%a %d %b %Y")


@bp.app_template_filter("minutes")
def minutes(value: float | None) -> str:
    return "none claimed" if value is None else f"{value:.0f} min"
