"""Facts only: run a notebook's code cells as Papermill would, without a kernel, outputs or a page.

An earlier period built by ``crm-workbench backfill`` (``run_pack(..., facts_only=True)``) runs
each notebook through here, in a process of its own: the same code cells in the same order, the
runner's parameters injected right after the cell tagged ``parameters`` (by Papermill's own
translator), the same seed (``PYTHONHASHSEED``) and pseudonymisation key. Only what the notebook
shows is dropped (displays go nowhere, figures are closed); what it records (facts, lists, files) is
written as under Papermill, so a period's facts do not depend on how it was built
(tests/test_backfill.py compares a period built both ways).

Processes: a ``Zygotes`` pool keeps one process per worker that has imported the library once and
forks a fresh child per notebook (a clean namespace and memory each time, without paying the
3-second import of pandas, scikit-learn and lifelines per notebook; the zygote is single-threaded
and opens no database, so forking it is safe). ``python -m crm_lib.reporting.factsonly NOTEBOOK
PARAMETERS.yaml [CELL_TIMEOUT_S]`` runs one notebook directly: exit 0 when every cell ran, 1 with
the failing cell and its traceback on stderr otherwise. A cell that runs longer than the timeout
fails as under Papermill's ``--execution-timeout``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import traceback
from pathlib import Path

PARAMETERS_TAG = "parameters"
KERNEL = "python3"
# what a notebook imports, loaded once by each zygote before it forks
PRELOAD = ("pandas", "numpy", "scipy.stats", "statsmodels.api", "sklearn.cluster", "lifelines", "duckdb",
           "matplotlib.pyplot", "IPython.display", "crm_lib.reporting.context", "crm_lib.overview",
           "crm_lib.segmentation", "crm_lib.churn", "crm_lib.satisfaction", "crm_lib.clv", "crm_lib.marketing",
           "crm_lib.evaluation", "crm_lib.plots", "papermill.translators", "yaml")


def code_cells(notebook: Path) -> tuple[list[str], int]:
    """The notebook's code cells and the index of its ``parameters`` cell (the first cell when none
    is tagged), after which Papermill injects the run's parameters."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c.get("cell_type") == "code"]
    tagged = [i for i, c in enumerate(code) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    return ["".join(c["source"]) for c in code], (tagged[0] if tagged else 0)


class CellError(Exception):
    """A cell of the notebook raised (``cell`` counts code cells, the injected parameters included)."""

    def __init__(self, cell: int, error: BaseException):
        super().__init__(f"cell {cell}: {type(error).__name__}: {error}")
        self.cell, self.error = cell, error


def run(notebook: Path, parameters: dict, cell_timeout_s: int = 0) -> None:
    """Execute ``notebook``'s code cells with ``parameters`` in a fresh namespace.

    Raises
    ------
    CellError
        A cell raised (a cell over ``cell_timeout_s`` raises ``TimeoutError``).
    """
    import matplotlib

    matplotlib.use("Agg")   # a headless run: figures are drawn (their code runs) and closed
    import matplotlib.pyplot as plt
    from papermill.translators import translate_parameters

    sources, at = code_cells(notebook)
    injected = translate_parameters(KERNEL, "python", parameters, "Parameters")
    plan = [*sources[:at + 1], injected, *sources[at + 1:]]
    ns: dict = {"__name__": "__main__"}

    def too_long(signum, frame):
        raise TimeoutError(f"the cell ran longer than {cell_timeout_s} s (notebook_timeout_s)")

    signal.signal(signal.SIGALRM, too_long)
    try:
        for i, code in enumerate(plan):
            try:
                signal.alarm(max(int(cell_timeout_s), 0))
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"{Path(notebook).name}[cell {i}]", "exec"), ns)  # noqa: S102 - our notebook
            except Exception as e:
                raise CellError(i, e) from e
            finally:
                signal.alarm(0)
                plt.close("all")
    finally:
        ctx = ns.get("ctx")
        if ctx is not None and getattr(ctx, "wh", None) is not None:
            ctx.wh.close()


def main(argv: list[str] | None = None) -> int:
    import yaml

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return _serve()
    if len(argv) not in (2, 3):
        print("usage: python -m crm_lib.reporting.factsonly NOTEBOOK.ipynb PARAMETERS.yaml [CELL_TIMEOUT_S]",
              file=sys.stderr)
        return 2
    notebook, pfile = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    timeout = int(float(argv[2])) if len(argv) == 3 else 0
    os.chdir(notebook.parent)   # as Papermill's --cwd: the notebooks' folder
    try:
        run(notebook, yaml.safe_load(pfile.read_text(encoding="utf-8")) or {}, timeout)
    except CellError as e:
        traceback.print_exception(e.error, file=sys.stderr)
        print(f"{notebook.name} {e}"[:2000], file=sys.stderr)   # the last line names the error, as Papermill's
        return 1
    return 0


# --------------------------------------------------------------------------- zygotes

def _serve() -> int:
    """A zygote: import the library, then for each request line (JSON: ``argv``, ``env``, ``stderr``)
    fork a child that runs ``main(argv)`` with its stdout discarded and its stderr in the file, and
    answer with the child's exit code (negative: the signal that killed it)."""
    import importlib

    for m in PRELOAD:
        importlib.import_module(m)
    out = os.fdopen(os.dup(1), "w")   # the protocol's channel; children never write to it
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:   # the child: its own streams, environment and exit
            code = 1
            try:
                os.environ.update(req.get("env") or {})
                devnull = os.open(os.devnull, os.O_WRONLY)
                err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(devnull, 1)
                os.dup2(err, 2)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                code = main(req["argv"])
            except BaseException:  # noqa: BLE001 - whatever happens, the child reports and exits
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()
    return 0


class Zygotes:
    """``n`` zygote processes (``_serve``) started with ``env``; ``run`` takes an idle one (blocking),
    so ``n`` notebooks run at a time. Close it (or use it as a context manager) to end them."""

    def __init__(self, n: int, env: dict):
        self._all = [subprocess.Popen([sys.executable, "-m", "crm_lib.reporting.factsonly", "--serve"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
                     for _ in range(max(1, n))]
        self._idle: queue.Queue = queue.Queue()
        for z in self._all:
            self._idle.put(z)

    def run(self, argv: list[str], stderr: Path, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``main(argv)`` in a child of an idle zygote; its stderr is read back from ``stderr``."""
        z = self._idle.get()
        try:
            z.stdin.write(json.dumps({"argv": argv, "env": env or {}, "stderr": str(stderr)}) + "\n")
            z.stdin.flush()
            reply = z.stdout.readline()
            if not reply:   # the zygote itself died (killed): the notebook did not run to its end
                raise ChildProcessError(f"the facts-only worker exited ({z.poll()})")
            code = json.loads(reply)["code"]
        finally:
            self._idle.put(z)
        text = Path(stderr).read_text(errors="replace") if Path(stderr).exists() else ""
        return subprocess.CompletedProcess(argv, code, "", text)

    def close(self) -> None:
        for z in self._all:
            with contextlib.suppress(OSError):
                z.stdin.close()
        for z in self._all:
            try:
                z.wait(timeout=10)
            except subprocess.TimeoutExpired:
                z.kill()
                z.wait()

    def __enter__(self) -> "Zygotes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":  # pragma: no cover - the runner starts it as a process
    sys.exit(main())
