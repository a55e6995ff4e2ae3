"""The environment files agree: pyproject pins, the lock file and environment.yml."""

import re
import tomllib

import yaml

from conftest import ROOT

CONDA_NAMES = {"duckdb": "python-duckdb"}  # conda-forge spells a few packages differently


def _pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for extra in meta["optional-dependencies"].values() for r in extra]
    pins = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^;\s]*)", r.strip())
        assert m, f"pyproject.toml: dependency {r!r} is not pinned exactly (name==version)"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep.get("pip", []):
                name, ver = r.split("==")
                pins[name.lower()] = ver
        elif "=" in dep:
            name, ver = dep.split("=")[:2]
            pins[name.lower()] = ver
    return pins


def test_environment_yml_mirrors_pyproject_pins():
    py, conda = _pyproject_pins(), _conda_pins()
    for name, ver in py.items():
        cname = CONDA_NAMES.get(name, name)
        assert conda.get(cname) == ver, f"environment.yml: {cname} should be {ver}, found {conda.get(cname)}"
    extra = set(conda) - {CONDA_NAMES.get(n, n) for n in py} - {"python", "pip"}
    assert not extra, f"environment.yml pins packages pyproject.toml does not: {sorted(extra)}"


def test_lock_file_holds_every_pin():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            lock[m.group(1).lower().replace("_", "-")] = m.group(2)
    for name, ver in _pyproject_pins().items():
        assert lock.get(name.replace("_", "-")) == ver, f"requirements.lock: {name} is {lock.get(name)}, pyproject says {ver}"
