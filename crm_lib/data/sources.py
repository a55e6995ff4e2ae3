"""What a source is, below the warehouse: canonical table names, ``SourceError``, classifying a
source path, the UTF-8 check of a CSV file and quoting of trusted names in SQL.

A low module of ``crm_lib.data``: ``store`` (the warehouse), ``schema`` (the contract) and
``mapping`` (a bank's names onto the contract) all import it, so none imports another in a circle.
Values from data enter SQL through ``crm_lib.data.sqlsafe``; ``_q``/``_lit`` here quote names and
paths the workbench itself chose.
"""

from __future__ import annotations

import csv
from pathlib import Path

from crm_lib.errors import WorkbenchError

CANONICAL_TABLES = ("customers", "accounts", "balances", "transactions", "complaints",
                    "surveys", "campaigns", "campaign_contacts")


class SourceError(WorkbenchError):
    """The source cannot be opened or read at all."""

    exit_code = 3


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _classify(source: str) -> tuple[str, str]:
    s = source
    if s.startswith("duckdb:///"):
        s = s[len("duckdb:///") - 1:]
    p = Path(s)
    if not p.exists():
        raise SourceError(f"source {source}: no such file or folder")
    if p.is_file():
        if p.suffix in (".duckdb", ".db"):
            return "duckdb", str(p)
        raise SourceError(f"source {source}: a file source must be a DuckDB file (.duckdb); "
                          "for Parquet or CSV give the folder that holds one file per table")
    if (p / "warehouse.duckdb").exists():  # a built warehouse (e.g. demo-data output) wins over loose files
        return "duckdb", str(p / "warehouse.duckdb")
    files = list(p.iterdir())
    if any(f.suffix == ".parquet" or (f.is_dir() and any(f.glob("*.parquet"))) for f in files):
        return "parquet", str(p)
    if any(f.suffix == ".csv" for f in files):
        return "csv", str(p)
    raise SourceError(f"source {source}: folder holds no .duckdb, .parquet or .csv tables")


def _check_utf8(path: Path, block: int = 1 << 20) -> None:
    with open(path, "rb") as f:
        offset = 0
        line = 1
        tail = b""
        while chunk := f.read(block):
            data = tail + chunk
            try:
                data.decode("utf-8")
                tail = b""
            except UnicodeDecodeError as e:
                if e.reason == "unexpected end of data" and e.start >= len(data) - 4:
                    tail = data[e.start:]
                    data = data[:e.start]
                else:
                    bad_line = line + data[:e.start].count(b"\n")
                    start = data.rfind(b"\n", 0, e.start) + 1
                    end = data.find(b"\n", e.start)
                    row = data[start:end if end >= 0 else len(data)].decode("utf-8", errors="replace").rstrip("\r")
                    raise SourceError(
                        f"{path.stem}.{_csv_column(path, row)}: file {path.name} is not UTF-8 (rule 'encoding utf-8'): "
                        f"byte {data[e.start:e.start + 1]!r} at line {bad_line}, e.g.\n    {row[:300]}\n"
                        "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
            line += data.count(b"\n")
            offset += len(chunk)


def _csv_column(path: Path, row: str) -> str:
    """Header name of the first field of ``row`` holding an undecodable byte ('*' if unknown)."""
    with open(path, "rb") as f:
        header = f.readline().decode("utf-8", errors="replace").strip()
    names = next(csv.reader([header]), [])
    fields = next(csv.reader([row]), [])
    bad = [i for i, v in enumerate(fields) if "\ufffd" in v]
    return names[bad[0]] if bad and bad[0] < len(names) else "*"


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
