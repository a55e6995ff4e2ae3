"""The door: open a source and check it before any analysis runs."""

from __future__ import annotations

import pandas as pd

from crm_lib.data.schema import ValidationReport, validate
from crm_lib.data.store import Warehouse, open_source
from crm_lib.errors import ConfigError


def check_source(source, mapping=None, today: pd.Timestamp | None = None) -> tuple[Warehouse, ValidationReport]:
    """Open ``source`` (with an optional mapping) and validate every table.

    Parameters
    ----------
    source : str or Path
        DuckDB file, or a folder of Parquet or CSV tables.
    mapping : str, Path or Mapping, optional
        Column mapping YAML (or a loaded ``Mapping``).
    today : Timestamp, optional
        Dates after this day are 'future dates'; default the current date.

    Returns
    -------
    (Warehouse, ValidationReport)
        The open warehouse and the report; call ``report.raise_for_errors()`` to stop
        on bad data.

    Raises
    ------
    SourceError
        The source cannot be opened or read.
    ConfigError
        The mapping file is missing or malformed, names a missing table or column, or
        does not cover a source value (a code with no translation, a date that does not
        match its ``format``). Nothing is validated until the mapping covers the source.
    """
    wh = open_source(source, mapping=mapping)
    try:
        if wh.mapping is not None:
            unmapped = wh.mapping.check_codes(wh) + wh.mapping.check_formats(wh)
            if unmapped:
                raise ConfigError(f"{wh.mapping.path}: the mapping does not cover every value in source "
                                  f"{wh.source}; add these values to the mapping:\n"
                                  + "\n".join(p.message() for p in unmapped))
        report = validate(wh, today=today)
    except BaseException:
        wh.close()
        raise
    return wh, report


def open_checked(source, mapping=None, today: pd.Timestamp | None = None) -> Warehouse:
    """Open ``source`` and raise ``DataContractError`` listing every broken rule."""
    wh, report = check_source(source, mapping, today)
    try:
        report.raise_for_errors()
    except BaseException:
        wh.close()
        raise
    return wh
