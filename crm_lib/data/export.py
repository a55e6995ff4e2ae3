"""Lists leave the workbench as data, never as spreadsheet formulas.

A tier, segment or reason text comes from a bank's data or an analyst's parameters; a value such
as ``=HYPERLINK("http://…","tier")`` written to a CSV is a formula Excel or LibreOffice runs when a
colleague opens the list. Text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return get a leading apostrophe, the treatment OWASP recommends ("CSV Injection"), and the file's
first line says so. Numbers stay numbers: a numeric column is never altered.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_NOTE = ("# Text cells that began with =, +, -, @, a tab or a carriage return carry a leading ' so that "
            "spreadsheets show them as text, not formulas (OWASP CSV injection). Read with skiprows=1.")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot start a spreadsheet formula (numeric columns untouched)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        text = s.astype("string")
        risky = text.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
        if risky.any():
            out[col] = s.where(~risky, "'" + text)
    return out


def write_csv(df: pd.DataFrame, path: str | os.PathLike, **to_csv) -> Path:
    """Write ``df`` to ``path`` as CSV with the note line first and formulas neutralised."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(CSV_NOTE + "\n")
        neutralise_formulas(df).to_csv(fh, index=False, **to_csv)
    return path
