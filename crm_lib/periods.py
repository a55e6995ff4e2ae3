"""Reporting periods: a month (``2026-09``), quarter (``2026Q3``) or year (``2026``).

A low module that every analysis may import (``crm_lib.config`` re-exports ``Period`` and
resolves a run's period against the data with ``config.resolve_period``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from crm_lib.errors import ConfigError


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a month (``2026-09``), quarter (``2026Q3``) or year (``2026``)."""

    label: str
    kind: str
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> "Period":
        s = str(text).strip()
        if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
            p = pd.Period(f"{m[1]}-{m[2]}", freq="M")
            kind = "month"
        elif m := re.fullmatch(r"(\d{4})[Qq]([1-4])", s):
            p = pd.Period(f"{m[1]}Q{m[2]}", freq="Q")
            kind = "quarter"
        elif re.fullmatch(r"\d{4}", s):
            p = pd.Period(s, freq="Y")
            kind = "year"
        else:
            raise ConfigError(f"period {text!r}: expected a month (2026-09), quarter (2026Q3) or year (2026)")
        return cls(_label(p, kind), kind, p.start_time.date(), p.end_time.date())

    @classmethod
    def last_closed(cls, kind: str, data_end: date) -> "Period":
        """The latest period of ``kind`` that ends on or before ``data_end``."""
        freq = {"month": "M", "quarter": "Q", "year": "Y"}[kind]
        p = pd.Period(pd.Timestamp(data_end), freq=freq)
        if p.end_time.date() > pd.Timestamp(data_end).date():
            p = p - 1
        return cls(_label(p, kind), kind, p.start_time.date(), p.end_time.date())

    def shift(self, n: int) -> "Period":
        freq = {"month": "M", "quarter": "Q", "year": "Y"}[self.kind]
        p = pd.Period(pd.Timestamp(self.start), freq=freq) + n
        return Period(_label(p, self.kind), self.kind, p.start_time.date(), p.end_time.date())

    def previous(self) -> "Period":
        return self.shift(-1)

    def year_ago(self) -> "Period":
        return self.shift({"month": -12, "quarter": -4, "year": -1}[self.kind])

    def __str__(self) -> str:
        return self.label


def _label(p: pd.Period, kind: str) -> str:
    return {"month": p.strftime("%Y-%m"), "quarter": f"{p.year}Q{p.quarter}", "year": str(p.year)}[kind]
