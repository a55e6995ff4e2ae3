"""Values from data and parameters enter SQL as literals built by SQLGlot, never by string pasting.

A product, tier, campaign kind or closure reason is whatever a bank's source systems or an
analyst typed: ``Children's Saver``, ``fx' OR TRUE OR product='x`` or ``o'brien`` must reach the
query as the string it is. Queries run through ``Warehouse.sql`` bind such values as parameters
(``?``); queries written once and compiled for several engines (the feature table, read as Spark
SQL and transpiled to DuckDB) take them as literals generated here, so quoting and escaping follow
the dialect that reads them. Identifiers derived from values (``has_<product>``) are normalised,
checked for collisions and quoted.
"""

from __future__ import annotations

import unicodedata

from sqlglot import exp

from crm_lib.errors import DataContractError


def lit(value, dialect: str = "duckdb") -> str:
    """``value`` as a SQL literal of ``dialect`` (strings quoted and escaped; numbers as numbers).

    Examples
    --------
    >>> lit("o'brien")
    "'o''brien'"
    >>> lit("o'brien", "spark")
    "'o\\\\'brien'"
    """
    if isinstance(value, bool) or value is None:
        return exp.convert(value).sql(dialect)
    if isinstance(value, (int, float)):
        return exp.convert(float(value) if isinstance(value, float) else int(value)).sql(dialect)
    return exp.Literal.string(str(value)).sql(dialect)


def lits(values, dialect: str = "duckdb") -> str:
    """A comma-separated list of literals, for ``IN (...)``."""
    return ", ".join(lit(v, dialect) for v in values)


def ident(name: str, dialect: str = "duckdb") -> str:
    """``name`` as a quoted identifier of ``dialect``."""
    return exp.to_identifier(str(name), quoted=True).sql(dialect)


def suffix(value) -> str:
    """A column-name suffix for a data value: lower-case letters, digits and ``_`` (NFKC first)."""
    text = unicodedata.normalize("NFKC", str(value)).lower()
    return "".join(ch if (ch.isascii() and ch.isalnum()) or (not ch.isascii() and ch.isalpha()) else "_"
                   for ch in text)


def suffixes(values, table: str, column: str) -> dict:
    """``{value: suffix}`` for the distinct ``values``; two values with one suffix are refused.

    Raises
    ------
    DataContractError
        When two values of ``table.column`` would give the same derived column name.
    """
    out, seen = {}, {}
    for v in values:
        s = suffix(v)
        if s in seen and seen[s] != v:
            raise DataContractError(
                f"{table}.{column}: values {seen[s]!r} and {v!r} both become the column suffix {s!r} "
                "(rule 'distinct values give distinct feature columns'); rename one in the source or the mapping")
        seen[s] = v
        out[v] = s
    return out
