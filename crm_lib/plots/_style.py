"""The house style: palette, rc settings and the figure helpers every plot module uses."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from crm_lib import fmt
from crm_lib.fmt import ci_label

logger = logging.getLogger(__name__)

PALETTE = ["#1f4e79", "#2e86c1", "#85c1e9", "#d4ac0d", "#ca6f1e", "#7d3c98", "#148f77", "#922b21"]
STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "legend.frameon": False,
}


# The CJK family figures fall back to for Chinese text (Debian: fonts-noto-cjk; `make fonts`).
# Matplotlib (>= 3.6) takes each glyph from the first family of ``font.family`` that has it, so
# Latin text and digits keep the house sans-serif and only Chinese characters come from this one.
CJK_FAMILY = "Noto Sans CJK SC"
_BASE_FAMILY = [f for f in matplotlib.rcParams["font.family"] if f != CJK_FAMILY]


def font_families(locale: str) -> list[str]:
    """``font.family`` for ``locale``: the house family (sans-serif), then the CJK family for
    Chinese/Japanese/Korean."""
    if str(locale).lower().split("-")[0] in ("zh", "ja", "ko"):
        return _BASE_FAMILY + [CJK_FAMILY]
    return list(_BASE_FAMILY)


def cjk_font() -> str | None:
    """The file of the CJK family, or None when it is not installed. A font installed after
    matplotlib built its font cache is not in it: the system font folders are searched then and
    what is found is added (``FontManager.addfont``), so no cache needs deleting by hand."""
    from matplotlib import font_manager

    fm = font_manager.fontManager
    if not any(f.name == CJK_FAMILY for f in fm.ttflist):
        for path in font_manager.findSystemFonts():
            if "notosanscjk" in Path(path).name.lower().replace("-", ""):
                try:
                    fm.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable file: try the next one
                    continue
    faces = [f for f in fm.ttflist if f.name == CJK_FAMILY]
    found = [f.fname for f in sorted(faces, key=lambda f: str(f.weight) not in ("400", "normal", "regular"))]
    return found[0] if found else None


def apply_locale(locale: str) -> None:
    """Make the figures of this process draw ``locale``'s script (``crm_lib.i18n.use`` calls it)."""
    families = font_families(locale)
    if CJK_FAMILY in families and cjk_font() is None:
        logger.warning("figures: font %r is not installed, Chinese text will show as boxes "
                       "(Debian: `make fonts` installs fonts-noto-cjk)", CJK_FAMILY)
    matplotlib.rcParams["font.family"] = families
    STYLE["font.family"] = families


if fmt.get_locale() != "en":     # crm_lib.i18n.use ran before the plots were imported
    apply_locale(fmt.get_locale())


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
    if fmt.get_locale().lower().startswith("zh"):
        scales = (("万亿", 1e12), ("亿", 1e8), ("万", 1e4))
    else:
        scales = (("bn", 1e9), ("m", 1e6), ("k", 1e3))
    for unit, div in scales:
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"
