"""Figures of ``reports/index.html``: one small trend line per headline KPI."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from crm_lib.plots._style import PALETTE, STYLE, _new


def sparkline(series: pd.DataFrame, target: float | None = None, size: tuple[float, float] = (1.8, 0.45)) -> Figure:
    """A sparkline of one KPI over periods, with its interval band and the latest value marked.

    ``series`` is one KPI's rows of ``evaluation.history`` (``period``, ``value``, ``ci_lower``,
    ``ci_upper``), any order; the band is each period's recorded interval (where it has one),
    the dashed line the target (drawn only when it lies near the values, so a distant target does
    not flatten the trend). No axes: the table around it states the values and the level.
    """
    g = series.sort_values("period")
    x = list(range(len(g)))
    y = g["value"].astype(float).to_numpy()
    fig, ax = _new(figsize=size)
    with plt.rc_context(STYLE):
        lo, hi = pd.to_numeric(g["ci_lower"], errors="coerce"), pd.to_numeric(g["ci_upper"], errors="coerce")
        if lo.notna().any():
            ax.fill_between(x, lo.to_numpy(float), hi.to_numpy(float), color=PALETTE[2], alpha=0.5, linewidth=0)
        both = pd.concat([g["value"].astype(float), lo, hi]).dropna()
        span = float(both.max() - both.min()) or abs(float(both.max())) or 1.0
        if len(x) > 1 and target is not None and not pd.isna(target) and abs(float(target) - float(both.mean())) <= span:
            ax.axhline(float(target), color=PALETTE[4], linestyle="--", linewidth=0.8)
        ax.plot(x, y, color=PALETTE[0], linewidth=1.3)
        ax.plot(x[-1:], y[-1:], "o", color=PALETTE[0], markersize=3)
        if len(x) == 1:
            ax.set_xlim(-1, 1)
        ax.axis("off")
        fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.05)
    plt.close(fig)
    return fig
