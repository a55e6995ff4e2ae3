"""The house style: palette, rc settings and the figure helpers every plot module uses."""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from crm_lib.fmt import ci_label

PALETTE = ["#1f4e79", "#2e86c1", "#85c1e9", "#d4ac0d", "#ca6f1e", "#7d3c98", "#148f77", "#922b21"]
STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "legend.frameon": False,
}


def _new(nrows=1, ncols=1, figsize=(7.5, 3.6), **kw):
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(nrows, ncols, figsize=figsize, **kw)
    return fig, ax


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def _titled(title: str, alpha: float | None, what: str = "") -> str:
    """``title (80% CI)``: a figure's title with the confidence level of the intervals it draws
    (``what`` names them, e.g. "bands"); unchanged when ``alpha`` is None."""
    if alpha is None:
        return title
    return f"{title} ({what + ': ' if what else ''}{ci_label(alpha)})"


def _thousands(x, _pos=None):
    for unit, div in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"
