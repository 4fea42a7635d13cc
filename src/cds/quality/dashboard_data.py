"""The quality dashboard's figures (Plotly), built from KPI rows, card analytics and a backtest report.

Pure functions: data in, `plotly.graph_objects.Figure` out. The web page
(`cds.service.dashboard`) serialises them as JSON and draws them with the
plotly.js shipped inside the ``plotly`` Python package (no CDN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cds.quality.kpi import KpiConfig, KpiRow

__all__ = ["acceptance_figure", "backtest_figure", "kpi_figure", "pathway_figure"]

_COLOURS = {"value": "#1f5f99", "target": "#c0392b", "interim": "#e67e22"}
_PATHWAY_COLOURS = {"A": "#6baed6", "B": "#fd8d3c", "C": "#d62728", "none": "#bbbbbb"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 50, "r": 20, "t": 60, "b": 40}}


def _scale(kpi_unit: str, value: float | None) -> float | None:
    if value is None:
        return None
    return value * 100 if kpi_unit == "share" else value


def kpi_figure(rows: Sequence[KpiRow], config: KpiConfig) -> go.Figure:
    """One small chart per KPI: the monthly value, the target and the interim target of the timeline."""
    kpis = list(config.kpis)
    cols = 3
    nrows = (len(kpis) + cols - 1) // cols
    titles = [f"{k.number}. {k.title_en}" + (" (%)" if k.unit == "share" else " (days)") for k in kpis]
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.12, horizontal_spacing=0.07)
    for i, kpi in enumerate(kpis):
        r, c = i // cols + 1, i % cols + 1
        mine = sorted((row for row in rows if row.kpi.id == kpi.id and row.group), key=lambda row: row.group or "")
        months = [row.group for row in mine]
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[_scale(kpi.unit, row.value) for row in mine],
                mode="lines+markers",
                name="value",
                legendgroup="value",
                showlegend=i == 0,
                line={"color": _COLOURS["value"]},
            ),
            row=r,
            col=c,
        )
        if kpi.target is not None and months:
            fig.add_trace(
                go.Scatter(
                    x=months,
                    y=[_scale(kpi.unit, kpi.target)] * len(months),
                    mode="lines",
                    name="target",
                    legendgroup="target",
                    showlegend=i == 0,
                    line={"color": _COLOURS["target"], "dash": "dash"},
                ),
                row=r,
                col=c,
            )
            interim = [_scale(kpi.unit, row.interim_target) for row in mine]
            if any(v is not None for v in interim):
                fig.add_trace(
                    go.Scatter(
                        x=months,
                        y=interim,
                        mode="lines",
                        name="interim target (50% after 1 year, 100% after 2)",
                        legendgroup="interim",
                        showlegend=i == 0,
                        line={"color": _COLOURS["interim"], "dash": "dot"},
                    ),
                    row=r,
                    col=c,
                )
    fig.update_layout(
        height=300 * nrows,
        title="KPIs per month against their targets (docs/kpi-definitions.md)",
        legend={"orientation": "h", "y": -0.05},
        **_LAYOUT,
    )
    fig.update_annotations(font_size=12)
    return fig


def acceptance_figure(groups: Sequence[Any]) -> go.Figure:
    """Stacked bars per rule: cards accepted, overridden and without feedback (from card analytics)."""
    rows = [g for g in groups if getattr(g, "rule_id", None)]
    rules = [g.rule_id for g in rows]
    fig = go.Figure()
    for name, attr, colour in (
        ("accepted", "accepted", "#2ca02c"),
        ("overridden", "overridden", "#d62728"),
        ("no feedback", "ignored", "#c7c7c7"),
    ):
        fig.add_trace(go.Bar(x=rules, y=[getattr(g, attr) for g in rows], name=name, marker_color=colour))
    rates = [f"{g.acceptance_rate * 100:.0f}%" if g.acceptance_rate is not None else "" for g in rows]
    fig.add_trace(
        go.Scatter(
            x=rules,
            y=[g.shown for g in rows],
            mode="text",
            text=rates,
            textposition="top center",
            name="acceptance rate",
            showlegend=False,
        )
    )
    fig.update_layout(barmode="stack", title="Cards by rule: accepted, overridden, no feedback", height=420, **_LAYOUT)
    return fig


def pathway_figure(monthly: Sequence[tuple[str, Mapping[str, int]]]) -> go.Figure:
    """Stacked bars per month: how many discharges got pathway A, B and C cards."""
    months = [m for m, _ in monthly]
    fig = go.Figure()
    for pathway in ("A", "B", "C"):
        fig.add_trace(
            go.Bar(
                x=months,
                y=[counts.get(pathway, 0) for _, counts in monthly],
                name=f"pathway {pathway}",
                marker_color=_PATHWAY_COLOURS[pathway],
            )
        )
    fig.update_layout(barmode="stack", title="Pathway mix per month (cards served)", height=380, **_LAYOUT)
    return fig


def backtest_figure(report: Mapping[str, Any]) -> go.Figure:
    """The last backtest: pathway transition matrix and patients gaining or losing each rule's card."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Pathway: baseline (rows) -> candidate (columns)", "Patients gaining / losing a card"),
        column_widths=[0.4, 0.6],
    )
    pathways = ["A", "B", "C", "none"]
    transitions = report.get("transitions") or {}
    z = [[(transitions.get(a) or {}).get(b, 0) for b in pathways] for a in pathways]
    fig.add_trace(
        go.Heatmap(
            z=z, x=pathways, y=pathways, colorscale="Blues", showscale=False, text=z, texttemplate="%{text}", name="patients"
        ),
        row=1,
        col=1,
    )
    gains = report.get("rule_gains") or {}
    losses = report.get("rule_losses") or {}
    rules = sorted(set(gains) | set(losses)) or ["(no change)"]
    fig.add_trace(go.Bar(x=rules, y=[gains.get(r, 0) for r in rules], name="gaining", marker_color="#2ca02c"), row=1, col=2)
    fig.add_trace(go.Bar(x=rules, y=[-losses.get(r, 0) for r in rules], name="losing", marker_color="#d62728"), row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    changed = report.get("changed", 0)
    compared = report.get("compared", 0)
    fig.update_layout(
        title=f"Last backtest ({report.get('hook', '?')}): {changed} of {compared} patients change",
        barmode="relative",
        height=420,
        **_LAYOUT,
    )
    return fig
