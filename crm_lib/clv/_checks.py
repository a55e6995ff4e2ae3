"""Door checks shared by the transactional models: each broken rule names table, column, rule and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError


def need_columns(df: pd.DataFrame, cols, table: str, hint: str = "") -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataContractError(f"{table}.{missing[0]}: column missing (rule 'the table has {', '.join(cols)}')"
                                + (f"; {hint}" if hint else ""))


def bad_rows(df: pd.DataFrame, mask, table: str, column: str, rule: str, show=None) -> None:
    """Raise ``DataContractError`` when ``mask`` flags any row, with up to 3 of them."""
    mask = np.asarray(mask, bool)
    if mask.any():
        cols = [c for c in (show or df.columns) if c in df.columns]
        bad = df.loc[mask, cols]
        raise DataContractError(f"{table}.{column}: {int(mask.sum()):,} row(s) break rule '{rule}', e.g.\n"
                                f"{bad.head(3).to_string()}", problems=bad.head(5).astype(str).to_dict("records"))


def check_rfm(summary: pd.DataFrame, table: str = "rfm summary", frequency: str = "frequency",
              recency: str = "recency", T: str = "T") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a frequency / recency / T summary and return the three arrays (float).

    Rules: at least one customer; all finite; frequency a whole number >= 0; recency >= 0;
    recency <= T (a last purchase after the end of calibration is impossible); recency = 0
    when frequency = 0; T > 0; at least one repeat buyer (otherwise nothing identifies the
    dropout process).
    """
    need_columns(summary, [frequency, recency, T], table, "build it with crm_lib.clv.rfm_summary")
    if len(summary) == 0:
        raise DataContractError(f"{table}: no rows (rule 'at least one customer')")
    show = [frequency, recency, T]
    x = pd.to_numeric(summary[frequency], errors="coerce").to_numpy(float)
    tx = pd.to_numeric(summary[recency], errors="coerce").to_numpy(float)
    TT = pd.to_numeric(summary[T], errors="coerce").to_numpy(float)
    for col, v in ((frequency, x), (recency, tx), (T, TT)):
        bad_rows(summary, ~np.isfinite(v), table, col, "a finite number", show)
    bad_rows(summary, (x < 0) | (x != np.round(x)), table, frequency, "frequency is a whole number >= 0", show)
    bad_rows(summary, tx < 0, table, recency, "recency >= 0", show)
    bad_rows(summary, TT <= 0, table, T, "T > 0 (time from first purchase to the end of calibration)", show)
    # 2-dp rounded summaries can put recency a hair above T: allow half a unit of the last digit
    bad_rows(summary, tx > TT + 5e-3, table, recency, "recency <= T (the last purchase cannot come after the end "
             "of calibration)", show)
    bad_rows(summary, (x == 0) & (tx > 0), table, recency, "recency = 0 when frequency = 0", show)
    if not (x > 0).any():
        raise DataContractError(f"{table}.{frequency}: no customer has a repeat transaction among {len(x):,} "
                                "(rule 'at least one repeat buyer'): the dropout process cannot be estimated; "
                                "lengthen the calibration period or check that transactions were loaded")
    return x, np.minimum(tx, TT), TT


def check_spend(summary: pd.DataFrame, table: str = "rfm summary", frequency: str = "frequency",
                monetary: str = "monetary_value") -> tuple[np.ndarray, np.ndarray]:
    """Validate the repeat buyers' mean spend for Gamma-Gamma; returns (x, zbar) of repeat buyers.

    Rules: columns present; finite; frequency >= 1 (customers without repeat purchases carry
    no spend information and must be left out); mean spend > 0.
    """
    need_columns(summary, [frequency, monetary], table, "build it with crm_lib.clv.rfm_summary")
    x = pd.to_numeric(summary[frequency], errors="coerce").to_numpy(float)
    m = pd.to_numeric(summary[monetary], errors="coerce").to_numpy(float)
    show = [frequency, monetary]
    bad_rows(summary, ~np.isfinite(x), table, frequency, "a finite number", show)
    bad_rows(summary, ~np.isfinite(m), table, monetary, "a finite number", show)
    bad_rows(summary, x < 1, table, frequency, "frequency >= 1 for Gamma-Gamma (fit on repeat buyers only: "
             "pass summary[summary.frequency > 0])", show)
    bad_rows(summary, m <= 0, table, monetary, "mean spend per repeat transaction > 0 (zero or negative spend "
             "cannot come from a gamma distribution; drop refunds or zero-value rows first)", show)
    if len(x) == 0:
        raise DataContractError(f"{table}: no repeat buyers (rule 'at least one customer with frequency >= 1')")
    return x, m
