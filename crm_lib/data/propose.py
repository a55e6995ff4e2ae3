"""Propose a mapping YAML for a new source: ``crm-workbench map SOURCE``.

For every canonical table the proposal names the source table that most likely holds it,
and for every canonical column the source column that fits by name (the canonical name,
its common synonyms, or a close spelling), by type (a date, a number, a code set) and by
values (codes that translate onto the contract's; customer keys found in the customers
table). The evidence is written as YAML comments beside each line; a detected date format
becomes ``format``, a small code set becomes ``codes``, and ``TODO`` marks what nothing
fits. The user edits the file, then runs ``crm-workbench validate --mapping FILE``: a
``TODO`` left in the file is refused with the key to fix (``mapping.load_mapping``).

Detection per source (CSV folders): the encoding (UTF-8, else GB18030, else Latin-1), the
delimiter and header row as DuckDB's sniffer finds them, and a decimal comma when a text
column holds only numbers written with one; these become the table's ``read`` options.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from crm_lib.data._synonyms import CODE_SYNONYMS, SYNONYMS, TABLE_HINTS
from crm_lib.data.mapping import TODO, ReadSpec, _utf8_copy, csv_relation
from crm_lib.data.schema import KEYS, PII_COLUMNS, SCHEMAS, sql_type
from crm_lib.data.sqlsafe import ident
from crm_lib.data.store import CANONICAL_TABLES, SourceError, _classify, _lit

logger = logging.getLogger(__name__)

DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y",
                "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y%m%d%H%M%S", "%Y年%m月%d日")
ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")
# A required column no source column fits, whose value a source often leaves out because it never
# varies there: the TODO line says how to state it (``{value: ...}``, ``mapping.ColumnSpec``).
VALUE_HINTS = {
    ("customers", "customer_type"): "; a source of one customer type states it: {value: individual}",
}
MAX_CODES = 30            # a column with more distinct values is not proposed as a code set
NAME_THRESHOLD = 0.8      # close-spelling ratio (difflib) that counts as a name match
# A source table is proposed for a canonical one from this score (see ``_table_score``): a name hint
# alone (1.0), or its own unique key plus at least a quarter of the required columns (0.5 + 0.25).
TABLE_THRESHOLD = 0.75


def norm(name: str) -> str:
    """A name as compared: NFKC, lower case, letters and digits only."""
    text = unicodedata.normalize("NFKC", str(name)).lower()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass
class SourceColumn:
    name: str
    type: str
    rows: int
    filled: int
    distinct: int
    unique: bool
    values: list = field(default_factory=list)    # distinct values when few (as text)
    date_format: str | None = None                 # detected format of text / 8-digit dates
    is_date: bool = False


@dataclass
class SourceTable:
    name: str
    relation: str
    rows: int
    columns: dict[str, SourceColumn]
    read: ReadSpec | None = None
    read_notes: list[str] = field(default_factory=list)


@dataclass
class Match:
    column: str | None
    evidence: str
    format: str | None = None
    codes: dict | None = None


# ---------------------------------------------------------------------------- profiling the source
def _detect_read(con, path: Path) -> tuple[ReadSpec, list[str]]:
    """Reader options for CSV file ``path`` and a note on each."""
    notes, opts = [], {}
    raw = path.read_bytes()[: 1 << 22]
    for enc in ("utf-8", "gb18030", "latin-1"):
        try:
            raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc != "utf-8":
            opts["encoding"] = enc
            notes.append(f"not UTF-8; decodes as {enc}" + (" (GB18030 also reads GBK)" if enc == "gb18030" else ""))
        break
    readable = _utf8_copy(path, opts["encoding"], "read.encoding") if "encoding" in opts else path
    delim, skip = con.execute(f"SELECT Delimiter, SkipRows FROM sniff_csv({_lit(str(readable))}, "
                              "sample_size=-1)").fetchall()[0]
    if delim and delim != ",":
        opts["delimiter"] = delim
        notes.append(f"delimiter {delim!r}")
    if skip:
        opts["header_row"] = int(skip) + 1
        notes.append(f"header on line {int(skip) + 1}")
    rel = csv_relation(con, path, ReadSpec(**opts))
    cols = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    text = [c[0] for c in cols if c[1] == "VARCHAR"]
    for c in text:
        v = f"nullif(trim({ident(c)}), '')"
        n, comma = con.execute(f"SELECT count({v}), count(*) FILTER (WHERE regexp_full_match({v}, "
                               f"'-?[0-9]{{1,3}}([.]?[0-9]{{3}})*,[0-9]+')) FROM {rel}").fetchall()[0]
        if n and comma == n:
            opts["decimal"] = ","
            notes.append(f"decimal comma (e.g. column {c})")
            break
    return ReadSpec(**opts), notes


def _profile_column(con, rel: str, name: str, typ: str, rows: int) -> SourceColumn:
    col = ident(name)
    v = f"nullif(trim(CAST({col} AS VARCHAR)), '')"
    filled, distinct = con.execute(f"SELECT count({v}), count(DISTINCT {v}) FROM {rel}").fetchall()[0]
    sc = SourceColumn(name, typ, rows, int(filled), int(distinct), bool(filled and distinct == filled == rows))
    if distinct <= MAX_CODES:
        sc.values = [r[0] for r in con.execute(f"SELECT {v}, count(*) FROM {rel} WHERE {v} IS NOT NULL "
                                               "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()]
    if typ.startswith(("DATE", "TIMESTAMP")):
        sc.is_date = True
    elif filled and (typ == "VARCHAR" or typ in ("BIGINT", "INTEGER", "HUGEINT")):
        # one scan: how many values each candidate format reads (as a date between 1900 and 2100)
        def reads(formats, source):
            counts = ", ".join([f"count({v})"] + [f"count(*) FILTER (WHERE year(try_strptime({v}, ?)) "
                                                  "BETWEEN 1900 AND 2100)" for _ in formats])
            n, *hits = con.execute(f"SELECT {counts} FROM {source}", list(formats)).fetchall()[0]
            return [f for f, h in zip(formats, hits) if h == n]

        # the formats that read a sample of 1,000 rows, then only those over every row
        cand = reads(DATE_FORMATS, f"(SELECT * FROM {rel} LIMIT 1000)")
        fmt = next(iter(reads(cand, rel)), None) if cand else None
        if fmt:
            # ISO text reads as a date without a format: only other layouts need one in the mapping
            sc.date_format, sc.is_date = (None if fmt in ISO_FORMATS and typ == "VARCHAR" else fmt), True
    return sc


def profile(source, con) -> list[SourceTable]:
    """Every table of ``source`` with its columns profiled (types, fill, distinct values, date formats).

    The tables are read as views ``src_<name>`` on ``con`` (a DuckDB connection the caller closes).
    """
    kind, path = _classify(str(source))
    tables = []
    try:
        found: list[tuple[str, str, ReadSpec | None, list[str]]] = []
        if kind == "duckdb":
            con.execute(f"ATTACH {_lit(path)} AS src (READ_ONLY)")
            for (n,) in con.execute("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_catalog = 'src'").fetchall():
                found.append((n, f"src.{ident(n)}", None, []))
        else:
            for p in sorted(Path(path).iterdir()):
                name = p.name.split(".")[0]
                if kind == "parquet" and (p.suffix == ".parquet" or (p.is_dir() and any(p.glob("*.parquet")))):
                    found.append((name, f"read_parquet({_lit(str(p / '*.parquet') if p.is_dir() else str(p))})",
                                  None, []))
                elif kind == "csv" and p.suffix == ".csv":
                    read, notes = _detect_read(con, p)
                    rel = csv_relation(con, p, read)
                    # dates the sniffer typed are profiled as their text, so the proposal names their format
                    # (the mapping then reads them as text too, and its format, not the sniffer, decides)
                    dates = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
                             if r[1].startswith(("DATE", "TIMESTAMP"))]
                    found.append((name, csv_relation(con, p, read, dates) if dates else rel,
                                  read if notes else None, notes))
        for name, rel, read, notes in found:
            view = ident(f"src_{name}")
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM {rel}")
            rows = int(con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0])
            cols = {r[0]: _profile_column(con, view, r[0], r[1], rows)
                    for r in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}
            tables.append(SourceTable(name, view, rows, cols, read, notes))
    except duckdb.Error as e:
        raise SourceError(f"source {source}: cannot be profiled ({str(e).splitlines()[0]})") from None
    return tables


def _overlaps(con, tables: list[SourceTable], key: tuple[str, str]) -> None:
    """Attach to each other table, per key-like column, the share of its values found in ``key``.

    ``key`` is (source table, column) of the customers key; ``table.overlap[column][key]`` is a
    proportion 0-1. Only text or integer columns that are not dates are compared.
    """
    by_name = {t.name: t for t in tables}
    u = by_name[key[0]]
    for t in tables:
        t.overlap = {}
        if t is u:
            continue
        for c in t.columns.values():
            if not c.filled or c.is_date or not (c.type == "VARCHAR" or c.type in ("BIGINT", "INTEGER", "HUGEINT")):
                continue
            a, b = f"CAST({ident(c.name)} AS VARCHAR)", f"CAST({ident(key[1])} AS VARCHAR)"
            share = con.execute(f"SELECT avg(CASE WHEN {a} IN (SELECT {b} FROM {u.relation}) THEN 1 ELSE 0 END) "
                                f"FROM {t.relation} WHERE {a} IS NOT NULL").fetchall()[0][0]
            t.overlap[c.name] = {key: float(share or 0)}


# ---------------------------------------------------------------------------- matching
def _name_score(canon: str, source: str) -> tuple[float, str]:
    s, c = norm(source), norm(canon)
    if s == c:
        return 1.0, f"name {source!r} is the canonical name"
    if s in [norm(x) for x in SYNONYMS.get(canon, [])]:
        return 0.95, f"name {source!r} is a common name for {canon}"
    r = difflib.SequenceMatcher(None, s, c).ratio()
    return r, f"name {source!r} resembles {canon} ({r:.2f})"


def _kind(canon_table: str, canon: str) -> str:
    spec = SCHEMAS[canon_table].columns[canon]
    st = [ch.statistics or {} for ch in spec.checks]
    if any("allowed_values" in x for x in st):
        return "codes"
    return {"TIMESTAMP": "date", "DOUBLE": "number", "BIGINT": "integer", "BOOLEAN": "flag"}.get(sql_type(spec), "text")


def _allowed(canon_table: str, canon: str) -> list[str]:
    for ch in SCHEMAS[canon_table].columns[canon].checks:
        if "allowed_values" in (ch.statistics or {}):
            return [str(x) for x in ch.statistics["allowed_values"]]
    return ["true", "false"] if _kind(canon_table, canon) == "flag" else []


def _propose_codes(values: list[str], allowed: list[str]) -> tuple[dict, int]:
    """Source code -> canonical value (``TODO`` where nothing fits), and how many fit."""
    out, hits = {}, 0
    for v in values:
        n = norm(v)
        pick = next((a for a in allowed if norm(a) == n), None)
        pick = pick or next((a for a in allowed if n in [norm(x) for x in CODE_SYNONYMS.get(a, [])]), None)
        if pick is None and n:
            starts = [a for a in allowed if norm(a).startswith(n)]
            pick = starts[0] if len(starts) == 1 else None
        out[v] = pick or TODO
        hits += pick is not None
    return out, hits


def _fits(kind: str, sc: SourceColumn) -> bool:
    numeric = sc.type in ("BIGINT", "INTEGER", "DOUBLE", "HUGEINT", "SMALLINT", "TINYINT", "FLOAT") or \
        sc.type.startswith("DECIMAL")
    if kind == "date":
        return sc.is_date
    if kind in ("number", "integer"):
        return numeric and not sc.date_format
    if kind == "flag":
        return sc.type == "BOOLEAN" or 0 < len(sc.values) <= 2 and sc.distinct <= 2
    return True


def _match_column(canon_table: str, canon: str, st: SourceTable, taken: set, customers_key) -> tuple[Match, float]:
    kind = _kind(canon_table, canon)
    best, best_score = Match(None, "no source column fits by name and type"), 0.0
    for sc in st.columns.values():
        if sc.name in taken:
            continue
        score, why = _name_score(canon, sc.name)
        if not _fits(kind, sc):
            continue
        evidence = [why, f"{sc.type.lower()}", f"{sc.filled:,} of {sc.rows:,} filled", f"{sc.distinct:,} distinct"]
        codes = fmt = None
        if kind in ("codes", "flag") and sc.type != "BOOLEAN":
            if not sc.values:
                continue
            codes, hits = _propose_codes(sc.values, _allowed(canon_table, canon))
            if hits == len(sc.values) and all(k == v for k, v in codes.items()):
                codes = None  # already canonical
            score += 0.3 * hits / len(sc.values)
            evidence.append(f"{hits} of {len(sc.values)} codes translate")
        if kind == "date":
            fmt = sc.date_format
            if fmt:
                evidence.append(f"every value reads as {fmt}")
        if canon == "customer_id" and customers_key and canon_table != "customers":
            share = getattr(st, "overlap", {}).get(sc.name, {}).get(tuple(customers_key))
            if share:
                score += 0.8 * share   # a column whose values are customer keys is the customer key
                evidence.append(f"{share:.0%} of values found in {customers_key[0]}.{customers_key[1]}")
        if canon in KEYS[canon_table] and len(KEYS[canon_table]) == 1:
            if not sc.unique:
                continue
            evidence.append("unique")
        if score > best_score:
            best, best_score = Match(sc.name, ", ".join(evidence), fmt, codes), score
    if best_score < NAME_THRESHOLD:
        # a date column left alone in the table is still a candidate for the table's one main date
        if kind == "date" and canon in ("onboard_date", "ts", "month", "opened_at", "survey_date", "contacted_at",
                                        "open_date", "start_date"):
            dates = [sc for sc in st.columns.values() if sc.is_date and sc.name not in taken]
            if len(dates) == 1:
                sc = dates[0]
                return Match(sc.name, f"the only date column of {st.name} ({sc.filled:,} of {sc.rows:,} filled"
                             + (f", every value reads as {sc.date_format}" if sc.date_format else "") + "): check it",
                             sc.date_format), 0.6
        if best.column is None or best_score < 0.5:
            return Match(None, "no source column fits by name and type"), best_score
        return Match(None, f"no column fits well; closest {best.column!r}: {best.evidence}"), best_score
    return best, best_score


def _table_score(canon_table: str, st: SourceTable) -> float:
    hint = 1.0 if any(h in norm(st.name) for h in [norm(x) for x in TABLE_HINTS[canon_table]]) else 0.0
    if norm(st.name) == norm(canon_table):
        hint = 2.0
    req = [c for c, spec in SCHEMAS[canon_table].columns.items() if spec.required and c not in PII_COLUMNS]
    found = sum(1 for c in req if _match_column(canon_table, c, st, set(), None)[0].column)
    key = KEYS[canon_table][0]
    own_key = _match_column(canon_table, key, st, set(), None)[0].column is not None
    return hint + found / len(req) + (0.5 if own_key else 0.0)


@dataclass
class Proposal:
    """The proposed mapping: per canonical table, its source table and per column a ``Match``."""

    source: str
    tables: dict[str, tuple[SourceTable, dict[str, Match]]]
    unused: list[SourceTable]

    def yaml(self) -> str:
        """The proposal as a mapping file, evidence as comments, ``TODO`` where nothing fits."""
        lines = [f"# Mapping proposed by `crm-workbench map` for {self.source}.",
                 "# Check every line: the comments give the evidence. Replace each TODO with the source",
                 "# column (or code) that holds it, or delete the line when the source does not hold it;",
                 "# then run `crm-workbench validate SOURCE --mapping THIS_FILE`.",
                 "tables:"]
        for canon_table, (st, cols) in self.tables.items():
            lines.append(f"  {canon_table}:")
            lines.append(f"    source: {_y(st.name)}  # {st.rows:,} rows, {len(st.columns)} columns")
            if st.read is not None:
                fields = st.read.model_dump(exclude_none=True)
                lines.append("    read: {" + ", ".join(f"{k}: {_y(v)}" for k, v in fields.items()) + "}"
                             + f"  # detected: {'; '.join(st.read_notes)}")
            lines.append("    columns:")
            for canon, m in cols.items():
                required = SCHEMAS[canon_table].columns[canon].required
                if m.column is None:
                    line = f"      {canon}: {TODO}" if required else f"      # {canon}: {TODO}"
                    lines.append(f"{line}  # {'required' if required else 'optional'}: {m.evidence}"
                                 + VALUE_HINTS.get((canon_table, canon), ""))
                    continue
                if m.format or m.codes:
                    parts = [f"column: {_y(m.column)}"]
                    if m.format:
                        parts.append(f"format: {_y(m.format)}")
                    if m.codes:
                        parts.append("codes: {" + ", ".join(f"{_y(k)}: {_y(v)}" for k, v in m.codes.items()) + "}")
                    value = "{" + ", ".join(parts) + "}"
                else:
                    value = _y(m.column)
                lines.append(f"      {canon}: {value}  # {m.evidence}")
            mapped = {m.column for m in cols.values() if m.column}
            rest = [c for c in st.columns if c not in mapped and norm(c) not in [norm(x) for x in SCHEMAS[canon_table].columns]]
            if rest:
                lines.append(f"    # not mapped (passed through, read by no analysis): {', '.join(rest)}")
        for st in self.unused:
            lines.append(f"# source table {st.name} ({st.rows:,} rows; columns {', '.join(st.columns)}) "
                         "matches no canonical table")
        missing = [t for t in CANONICAL_TABLES if t not in self.tables]
        if missing:
            lines.append(f"# canonical tables with no source table: {', '.join(missing)}")
        return "\n".join(lines) + "\n"


def _y(v) -> str:
    """A YAML scalar for a name, code or format (quoted when plain YAML would misread it)."""
    s = str(v)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ .-]*", s) and s.lower() not in (
            "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~") and not s.endswith(" "):
        return s
    if re.fullmatch(r"[^\x00-\x7f]+", s):   # CJK names and codes read as plain strings
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def propose(source) -> Proposal:
    """Profile ``source`` and propose how its tables and columns map onto the canonical schema."""
    con = duckdb.connect(":memory:")
    try:
        return _propose(source, con)
    finally:
        con.close()


def _propose(source, con) -> Proposal:
    tables = profile(source, con)
    # tables: best-scoring pairs first, each canonical and each source table used once
    scored = sorted(((_table_score(ct, st), ct, st.name) for ct in CANONICAL_TABLES for st in tables), reverse=True)
    chosen: dict[str, SourceTable] = {}
    used = set()
    by_name = {st.name: st for st in tables}
    for score, ct, sn in scored:
        if ct in chosen or sn in used or score < TABLE_THRESHOLD:
            continue
        chosen[ct], _ = by_name[sn], used.add(sn)
    out: dict[str, tuple[SourceTable, dict[str, Match]]] = {}
    customers_key = None
    for ct in [t for t in CANONICAL_TABLES if t in chosen]:
        st, taken, cols = chosen[ct], set(), {}
        # keys first, then required columns, then the rest, so a strong match is not taken by a weak one
        order = sorted(SCHEMAS[ct].columns, key=lambda c: (c not in KEYS[ct], not SCHEMAS[ct].columns[c].required))
        matches = {}
        for canon in order:
            m, _ = _match_column(ct, canon, st, taken, customers_key)
            if m.column:
                taken.add(m.column)
            matches[canon] = m
        cols = {c: matches[c] for c in SCHEMAS[ct].columns}
        if ct == "customers" and cols["customer_id"].column:
            customers_key = (st.name, cols["customer_id"].column)
            _overlaps(con, tables, customers_key)
        out[ct] = (st, cols)
    logger.info("proposed a mapping for %s: %s", source, ", ".join(f"{t} <- {st.name}" for t, (st, _) in out.items()))
    return Proposal(str(source), out, [st for st in tables if st.name not in used])


# ---------------------------------------------------------------------------- the command
def cmd_map(args) -> int:
    """``crm-workbench map SOURCE [--out FILE] [--force]``: print or write the proposed mapping."""
    from crm_lib.errors import ConfigError

    text = propose(args.source).yaml()
    if not args.out:
        print(text, end="")
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; choose another --out, or add --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    todo = sum(1 for line in text.splitlines() if re.match(rf"\s+\w+: {TODO}\b", line))
    print(f"proposed mapping written to {out} ({todo} required column(s) still {TODO}); edit it, then run "
          f"crm-workbench validate {args.source} --mapping {out}")
    return 0


def add_map_command(sub) -> None:
    """Register ``map`` on the CLI's subparsers."""
    m = sub.add_parser("map", help="propose a mapping YAML for a new source (edit it, then validate)")
    m.add_argument("source", help="DuckDB file, or a folder of Parquet or CSV tables")
    m.add_argument("--out", help="write the proposal here (default: print it)")
    m.add_argument("--force", action="store_true", help="replace an existing --out file")
    m.set_defaults(func=cmd_map)
