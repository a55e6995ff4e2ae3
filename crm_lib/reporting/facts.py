"""Facts: the headline numbers a notebook records, each with its uncertainty, n and definition.

A notebook records a fact with one call; the runner merges every notebook's facts into
the pack's ``facts.json``, which the index and the effectiveness review read.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crm_lib.factfile import load_facts  # noqa: F401 - the reader lives low, for crm_lib.evaluation
from crm_lib.fmt import level

logger = logging.getLogger(__name__)


@dataclass
class Fact:
    """One recorded number.

    ``ci`` is a (lower, upper) interval at ``ci_level`` (0.95 for a 95% interval): the run's
    ``1 - alpha``, or a level fixed by design, which then says why in ``tags["ci_level_fixed"]``.
    A census quantity with no sampling error says so in ``uncertainty`` instead of carrying an
    interval.
    """

    name: str
    value: float | int | str | None
    unit: str
    definition: str
    n: int | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    ci_level: float | None = None
    p_value: float | None = None
    uncertainty: str = ""
    notebook: str = ""
    period: str = ""
    headline: bool = False
    tags: dict = field(default_factory=dict)


def _clean(v):
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


class FactBook:
    """Collects a notebook's facts; saves them atomically to ``path`` after each record.

    Parameters
    ----------
    notebook : str
        Name of the recording notebook (without .ipynb).
    period : str
        The period label the facts describe.
    path : str or Path, optional
        JSON file to write; ``None`` keeps facts in memory (interactive use).
    alpha : float
        The run's alpha: an interval recorded without ``ci_level`` is at ``1 - alpha``.
    """

    def __init__(self, notebook: str, period: str, path: str | Path | None = None, alpha: float = 0.05):
        self.notebook = notebook
        self.period = period
        self.path = Path(path) if path else None
        self.alpha = alpha
        self.facts: dict[str, Fact] = {}

    def record(self, name: str, value, unit: str, definition: str, *, n: int | None = None,
               ci: tuple[float, float] | None = None, ci_level: float | None = None,
               p_value: float | None = None, uncertainty: str = "", headline: bool = False,
               **tags) -> Fact:
        """Record (or replace) the fact ``name`` and return it.

        An interval's level is ``ci_level``, by default the book's ``1 - alpha``. An interval
        whose level is fixed by design whatever the run's alpha passes ``ci_level`` and the
        reason as the tag ``ci_level_fixed="..."``, so that pages can say so.

        Raises
        ------
        ValueError
            When neither an interval, a p-value nor an ``uncertainty`` statement is given:
            every number a reviewer reads carries its uncertainty.
        """
        if ci is None and p_value is None and not uncertainty:
            raise ValueError(f"fact {name!r}: give ci=(lower, upper), p_value= or uncertainty='...'"
                             " (e.g. 'census count: no sampling error')")
        if ci is not None and ci_level is None:
            ci_level = level(self.alpha)
        if ci is not None and not 0 < float(ci_level) < 1:
            raise ValueError(f"fact {name!r}: ci_level={ci_level!r} is a confidence level strictly between 0 and 1 "
                             "(0.95 for a 95% interval), not a percentage or an alpha")
        f = Fact(name=name, value=_clean(value), unit=unit, definition=definition, n=_clean(n),
                 ci_lower=_clean(ci[0]) if ci else None, ci_upper=_clean(ci[1]) if ci else None,
                 ci_level=ci_level, p_value=_clean(p_value), uncertainty=uncertainty,
                 notebook=self.notebook, period=self.period, headline=headline,
                 tags={k: _clean(v) for k, v in tags.items()})
        self.facts[name] = f
        self.save()
        return f

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(f) for f in self.facts.values()], indent=2, default=str))
        os.replace(tmp, self.path)

    def table(self):
        """The recorded facts as a DataFrame (for display in the notebook)."""
        import pandas as pd

        cols = ["name", "value", "unit", "ci_lower", "ci_upper", "ci_level", "n", "p_value", "uncertainty", "definition"]
        return pd.DataFrame([asdict(f) for f in self.facts.values()], columns=cols + ["notebook"])[cols]
