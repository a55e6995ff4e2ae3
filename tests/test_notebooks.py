"""Notebooks are thin, saved without outputs, and run clean under nbval (lax)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.stem for p in NOTEBOOKS][:1] == ["00_data_overview"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{path.name} cell {i} has stored output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_thin_parameters_first_and_no_definitions(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    names = {t.targets[0].id for t in ast.parse(code[0].source).body if isinstance(t, ast.Assign)}
    assert names == {"source", "period", "profile", "params", "facts_path", "door_path"}
    for c in code:
        for node in ast.walk(ast.parse(c.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"{path.name}: define functions in crm_lib, not in the notebook:\n{c.source}"
    assert nb.metadata["kernelspec"]["name"] == "crm-workbench"


def run_nbval(notebooks, bank) -> None:
    """Run ``notebooks`` under nbval (lax) as a user would in JupyterLab: default parameters,
    the source from $CRM_SOURCE. Used by this file and tests/test_notebooks_more.py, so that
    pytest-xdist can run the two halves on both cores."""
    env = {**os.environ, "CRM_SOURCE": str(bank / "warehouse.duckdb")}
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                        "--nbval-kernel-name", "crm-workbench", *map(str, notebooks)],
                       capture_output=True, text=True, cwd=ROOT / "notebooks", env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    cells = sum(1 for nb in notebooks for c in nbformat.read(str(nb), 4).cells if c.cell_type == "code")
    assert f"{cells} passed" in r.stdout


@pytest.mark.slow
def test_first_half_of_the_notebooks_runs_under_nbval_lax(tiny_bank):
    run_nbval(NOTEBOOKS[0::2], tiny_bank)
