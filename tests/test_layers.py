"""The package's layering (issue #21), written as import-linter contracts in pyproject.toml.

The real package keeps them; a copy of it with one upward import planted breaks them, naming the import. The
plants include the circles the package used to have (data importing features for Spark, the review importing
the reporting layer for a file reader, the overview and segmentation importing the CLV package for margins, the
early-warning list importing relationship CLV).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

LINT = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin" / "lint-imports"


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    exe = str(LINT) if LINT.exists() else shutil.which("lint-imports")
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """A copy of the package and its contracts, to plant imports in."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "crm_lib", root / "crm_lib", ignore=shutil.ignore_patterns("__pycache__", "locale"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


# (module, planted line, the import the contract must name)
PLANTS = [
    ("crm_lib/data/spark.py", "from crm_lib.features import feature_sql", "crm_lib.data.spark -> crm_lib.features"),
    ("crm_lib/evaluation/report.py", "from crm_lib.reporting.facts import load_facts",
     "crm_lib.evaluation.report -> crm_lib.reporting.facts"),
    ("crm_lib/overview/measures.py", "from crm_lib.clv.relationship import point_clv",
     "crm_lib.overview.measures -> crm_lib.clv.relationship"),
    ("crm_lib/segmentation/profiles.py", "from crm_lib.reporting.prose import money",
     "crm_lib.segmentation.profiles -> crm_lib.reporting.prose"),
    ("crm_lib/churn/cox.py", "from crm_lib.segmentation import tiers", "crm_lib.churn.cox -> crm_lib.segmentation"),
    ("crm_lib/churn/warning.py", "from crm_lib.clv.relationship import point_clv",
     "crm_lib.churn.warning -> crm_lib.clv.relationship"),
    ("crm_lib/fmt.py", "from crm_lib import config", "crm_lib.fmt -> crm_lib.config"),
    # independent siblings: one analysis does not read another of its layer
    ("crm_lib/satisfaction/scores.py", "from crm_lib import overview", "crm_lib.satisfaction.scores -> crm_lib.overview"),
]


@pytest.mark.parametrize("module, line, named", PLANTS, ids=[p[2] for p in PLANTS])
def test_a_planted_upward_import_breaks_the_contract(copy, module, line, named):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # planted by tests/test_layers.py\n")
    try:
        r = _lint(copy, pythonpath=copy)
    finally:
        path.write_text(original)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 kept, 1 broken" in r.stdout and named in r.stdout, r.stdout[-3000:]


def test_the_copy_without_plants_keeps_the_layers(copy):
    """The planted copy is read, not the installed package: unplanted, it passes as the package does."""
    r = _lint(copy, pythonpath=copy)
    assert r.returncode == 0 and "1 kept, 0 broken" in r.stdout, r.stdout + r.stderr


# --------------------------------------------------------------------------- one shape per analysis package

ANALYSES = ("overview", "segmentation", "churn", "satisfaction", "clv", "marketing", "evaluation")
WORDS = {"narrative", "tables"}          # modules that turn results into sentences and display tables


def _imports(path: Path) -> set[str]:
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


@pytest.mark.parametrize("package", ANALYSES)
def test_every_analysis_package_has_the_same_shape(package):
    """Computation modules, one report.py (results and facts), one narrative.py (sentences and display tables):
    the results never import the words, and a computation module imports neither."""
    d = ROOT / "crm_lib" / package
    names = {p.stem for p in d.glob("*.py")}
    assert {"__init__", "report", "narrative"} <= names, sorted(names)
    assert not names & {"pipeline", "review"}, sorted(names)
    words = {f"crm_lib.{a}.{w}" for a in ANALYSES for w in WORDS}
    results = {f"crm_lib.{a}.report" for a in ANALYSES}
    for p in d.glob("*.py"):
        used = _imports(p)
        if p.stem == "report":
            assert not used & words, f"{p.name} imports {sorted(used & words)}"
        elif p.stem not in WORDS | {"__init__"}:
            assert not used & (words | results), f"{package}/{p.name} imports {sorted(used & (words | results))}"
        if p.stem in WORDS:
            assert ".record(" not in p.read_text(), f"{package}/{p.name} records facts: that is report.py's job"


# ---------------------------------------------------------------------------- one query layer (issue #17)
# Who may touch an engine directly. Every analysis reads the warehouse through ``Warehouse`` (DuckDB) or
# ``SparkWarehouse`` (``wh.sql``, ``wh.arrow``, ``wh.con``): the same query runs on the engine the source names.
ENGINE_USERS = {
    "duckdb": {"crm_lib/data/store.py": "the DuckDB warehouse",
               "crm_lib/data/spark.py": "Arrow -> pandas with DuckDB's own conversion, so both engines give one dtype",
               "crm_lib/data/schema.py": "catches duckdb.Error at the door",
               "crm_lib/data/propose.py": "`map` reads a new source's raw files, before there is a warehouse",
               "crm_lib/data/_synth/writer.py": "the synthetic bank writes its warehouse file"},
    "pyspark": {"crm_lib/data/spark.py": "the Spark warehouse"},
}
CONNECTS = {"crm_lib/data/store.py", "crm_lib/data/spark.py", "crm_lib/data/propose.py", "crm_lib/data/_synth/writer.py"}


def _imports_and_connects(path: Path) -> tuple[set[str], bool]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods.add(node.module.split(".")[0])
    connects = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "connect"
                   and isinstance(n.func.value, ast.Name) and n.func.value.id == "duckdb" for n in ast.walk(tree))
    return mods, connects


def test_only_the_query_layer_touches_an_engine():
    used = {"duckdb": set(), "pyspark": set()}
    connecting = set()
    for path in sorted((ROOT / "crm_lib").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        mods, connects = _imports_and_connects(path)
        for engine in used:
            if engine in mods:
                used[engine].add(rel)
        if connects:
            connecting.add(rel)
    for engine, allowed in ENGINE_USERS.items():
        assert used[engine] <= set(allowed), f"{engine} imported outside the query layer: {sorted(used[engine] - set(allowed))}"
    assert connecting <= CONNECTS, f"a DuckDB connection opened outside the query layer: {sorted(connecting - CONNECTS)}"
    assert "crm_lib/data/store.py" in connecting and "crm_lib/data/spark.py" in used["pyspark"]   # the scan sees them
