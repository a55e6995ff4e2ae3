"""The door: open a source and check it before any analysis runs."""

from __future__ import annotations

import pandas as pd

from crm_lib.data.schema import ValidationReport, validate
from crm_lib.data.store import Warehouse, open_source


def check_source(source, mapping=None, today: pd.Timestamp | None = None) -> tuple[Warehouse, ValidationReport]:
    """Open ``source`` (with an optional mapping) and validate every table.

    Returns the open warehouse and the report; call ``report.raise_for_errors()`` to
    stop on bad data. Mapping errors (missing columns, unknown codes) are in the report
    or raised as ``ConfigError`` when the mapping itself is malformed.
    """
    wh = open_source(source, mapping=mapping)
    report = validate(wh, today=today)
    if wh.mapping is not None:
        report.problems[:0] = wh.mapping.check_codes(wh)
    return wh, report


def open_checked(source, mapping=None, today: pd.Timestamp | None = None) -> Warehouse:
    """Open ``source`` and raise ``DataContractError`` listing every broken rule."""
    wh, report = check_source(source, mapping, today)
    report.raise_for_errors()
    return wh
