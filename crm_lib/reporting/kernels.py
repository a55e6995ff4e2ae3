"""Running papermill for the runner: no process left behind, and a dead kernel's last cell named.

A kernel that dies mid-cell (out of memory, killed) makes papermill exit 138; the executed
notebook then says which cell was running, and that cell gets an error output with the
reason, so the notebook's page shows it. A notebook that failed because a disk filled up or
turned read-only is re-raised as that OSError: a fault of the machine, not of the notebook.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import nbformat

from crm_lib.reporting import fsafe

logger = logging.getLogger(__name__)

# papermill exits 138 when nbclient raises DeadKernelError: the kernel died while running a cell.
PAPERMILL_DEAD_KERNEL = 138
OUT_OF_MEMORY = "the machine (or the kernel's memory limit) may be too small for this data"
RUN_TOKEN_ENV = "CRM_WORKBENCH_RUN_TOKEN"


def run_papermill(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run papermill; afterwards no process it started (kernel, the kernel's children) survives.

    Kernels run in a session of their own (jupyter_client) and a kernel's children outlive it,
    so each run carries a random token in its environment and every process still carrying it
    once papermill has exited is killed (``processes_with_token``, Linux ``/proc``). papermill
    stays in this process group, so a scheduler that kills the group kills it too.
    """
    token = secrets.token_hex(8)
    # Files, not pipes: a process the kernel left behind keeps a pipe open, and reading to its end
    # would wait for that process.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**env, RUN_TOKEN_ENV: token})
        peak = _PeakMemory(token)
        try:
            with peak:
                proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            _kill_token(token)
        out.seek(0)
        err.seek(0)
        text = [f.read().decode("utf-8", errors="replace") for f in (out, err)]
    done = subprocess.CompletedProcess(cmd, proc.returncode, *text)
    done.peak_memory_mb = peak.peak_mb       # the notebook's largest process (MB), for the manifest
    return done


class _PeakMemory:
    """The largest resident-memory high-water mark (``VmHWM``, MB) among the processes carrying a run's token (the
    papermill process and its kernel), read from ``/proc`` every ``every`` seconds while the run lasts. A
    process's own high-water mark counts from its start, unlike ``wait4``'s figure, which includes the memory of
    the process that started it. Growth in a kernel's last ``every`` seconds before it exits can be missed.
    ``peak_mb`` stays ``None`` where ``/proc`` is missing."""

    def __init__(self, token: str, every: float = 0.5):
        self.token, self.every, self.peak_mb = token, every, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peak-memory-{token}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while True:
            for pid in processes_with_token(self.token):
                try:
                    text = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
                if hwm:
                    self.peak_mb = max(self.peak_mb or 0.0, round(int(hwm.group(1)) / 1024, 1))
            if self._stop.wait(self.every):
                return


def processes_with_token(token: str) -> list[int]:
    """Process ids whose environment carries ``RUN_TOKEN_ENV=token`` (Linux /proc; [] elsewhere)."""
    needle = f"{RUN_TOKEN_ENV}={token}".encode()
    pids = []
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return pids
    for d in proc_dir.iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def _kill_token(token: str) -> None:
    for pid in processes_with_token(token):
        logger.warning("killing process %d left behind by a notebook run", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def raise_if_machine_fault(error: str, out: Path) -> None:
    """A notebook that failed because a disk filled up or turned read-only is a fault of the machine.

    Raised as the OSError it was (with its file, else the notebook's output) for run_pack to report.
    A permission error stays a notebook failure: a notebook reading the wrong file is a bug.
    """
    m = re.search(r"\[Errno (\d+)\][^'\n]*(?:'([^'\n]+)')?", error)
    if m and int(m[1]) in fsafe.ENVIRONMENT_ERRNOS - {errno.EACCES, errno.EPERM}:
        raise OSError(int(m[1]), os.strerror(int(m[1])), m[2] or str(out))


def mark_dead_kernel(out: Path, returncode: int) -> str:
    """The reason a notebook's kernel (or papermill) died, naming its last cell; written into that cell.

    papermill stamps ``start_time`` on each cell as it starts, so the last code cell with one is
    the cell the kernel died in; an error output is added to it, so its page says why.
    """
    who = "the kernel died" if returncode == PAPERMILL_DEAD_KERNEL else f"papermill was killed (signal {-returncode})"
    why = "the machine may be out of memory, or the kernel was killed"
    if not out.exists():
        return f"{who} before the notebook was saved; {why}"
    nb = nbformat.read(str(out), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    started = [i for i, c in enumerate(code) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return f"{who} before the first cell; {why}"
    i = started[-1]
    first = next((ln.strip() for ln in code[i].source.splitlines() if ln.strip()), "")[:60]
    reason = f"{who} during cell {i + 1} of {len(code)} (`{first}`); {why}"
    code[i].outputs.append(nbformat.v4.new_output("error", ename="DeadKernelError", evalue=reason,
                                                  traceback=[f"DeadKernelError: {reason}"]))
    code[i].metadata["papermill"]["status"] = "failed"
    nbformat.write(nb, str(out))
    return reason
