"""Door checks shared by the segmentation modules: every failure is a ``DataContractError``
naming the table, the column, the rule and up to three offending rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError

TABLE = "features"   # the per-customer feature table (crm_lib.features.feature_table)
N_EXAMPLES = 3


def examples(df: pd.DataFrame, mask, columns: list[str]) -> str:
    """Up to ``N_EXAMPLES`` offending rows of ``df`` as text (identifiers are pseudonyms)."""
    cols = [c for c in ["customer_id", *columns] if c in df.columns]
    rows = df.loc[np.asarray(mask, dtype=bool), list(dict.fromkeys(cols))].head(N_EXAMPLES)
    return rows.to_string(index=False)


def fail(column: str, rule: str, df: pd.DataFrame | None = None, mask=None, fix: str = "",
         table: str = TABLE) -> DataContractError:
    """Build (not raise) the error for ``table.column`` breaking ``rule``."""
    msg = f"{table}.{column}: "
    if df is not None and mask is not None:
        k = int(np.asarray(mask, dtype=bool).sum())
        msg += f"{k:,} row(s) break rule '{rule}'"
        if k:
            msg += ", e.g.\n" + examples(df, mask, [column])
    else:
        msg += f"rule '{rule}' is broken"
    if fix:
        msg += f"\n{fix}"
    return DataContractError(msg)


def require_columns(df: pd.DataFrame, columns, table: str = TABLE, why: str = "") -> None:
    """Raise when ``df`` lacks any of ``columns``."""
    if not isinstance(df, pd.DataFrame):
        raise DataContractError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataContractError(
            f"{table}: missing column(s) {missing}" + (f" ({why})" if why else "")
            + "; build the table with crm_lib.features.feature_table")


def require_rows(df: pd.DataFrame, what: str, table: str = TABLE) -> None:
    """Raise when ``df`` has no rows."""
    if len(df) == 0:
        raise DataContractError(f"{table}: no rows ({what}): nothing to segment; check the as-of date "
                                "and that customers were onboarded by then")


def unique_ids(df: pd.DataFrame, table: str = TABLE) -> None:
    dup = df["customer_id"].duplicated(keep=False)
    if dup.any():
        raise fail("customer_id", "one row per customer", df, dup, table=table)
