"""Writes that stay inside one root folder (``reports_dir``) and never follow a symlink.

Everything the workbench writes under ``reports_dir`` goes through these helpers, so a
name can never point a write outside the folder and a symlink planted inside it (an
``index.html``, a temporary file, a lock, ``index_files/``) is refused instead of followed:

- :func:`inside` resolves a path against the root and refuses ``..`` escapes and any
  existing component below the root that is a symbolic link (the root itself may be one:
  an operator may keep reports on another disk);
- :func:`makedirs` creates folders one level at a time and refuses a symlinked one;
- :func:`atomic_open`, :func:`write_text` and :func:`write_bytes` write a fresh temporary
  file beside the target (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name, so nothing
  planted can be followed), ``fsync`` it, then ``os.replace`` it over the target, which
  must not be a symlink;
- :func:`replace` moves a file or folder (a finished build, an archived pack) inside the root;
- :func:`try_lock` takes an OS file lock (``flock``, released by the kernel when its holder
  dies) on a lock file opened with ``O_NOFOLLOW``; it is compatible with ``filelock.FileLock``.

Faults of the machine (no space, read-only file system, no permission) become an
:class:`~crm_lib.errors.EnvironmentFault` with one line saying what failed, where and what
to do: see :func:`fault` and :func:`check_writable`.
"""

from __future__ import annotations

import errno
import getpass
import logging
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from crm_lib.errors import EnvironmentFault

logger = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# Errors that say the machine, not the data or the parameters, is at fault.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
MB = 1024 * 1024


class UnsafePath(EnvironmentFault):
    """A write would leave the root folder or follow a symbolic link planted inside it."""


def _root(root: str | Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(root)))


def inside(root: str | Path, path: str | Path) -> Path:
    """``path`` (absolute, or relative to ``root``) as an absolute path inside ``root``.

    Raises
    ------
    UnsafePath
        When ``path`` leaves ``root`` (``..``, another absolute path) or a component below
        ``root`` that exists is a symbolic link.
    """
    given = Path(os.path.abspath(root))
    real = _root(root)
    p = Path(path)
    full = Path(os.path.normpath(p if p.is_absolute() else given / p))
    rel = None
    for base in (given, real):
        try:
            rel = full.relative_to(base)
            break
        except ValueError:
            continue
    if rel is None or ".." in rel.parts:
        raise UnsafePath(f"refusing to write {path}: it is outside the reports folder {real}")
    cur = real
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            raise UnsafePath(f"refusing to write through {cur}: it is a symbolic link (to {os.readlink(cur)}), "
                             f"not a file or folder of the reports folder; remove it and run again")
    return cur


def makedirs(root: str | Path, path: str | Path, mode: int = 0o777) -> Path:
    """Create ``path`` and its missing parents inside ``root`` (which is created too)."""
    real = _root(root)
    real.mkdir(parents=True, exist_ok=True)
    target = inside(root, path)
    cur = real
    for part in target.relative_to(real).parts:
        cur = cur / part
        try:
            os.mkdir(cur, mode)
        except FileExistsError:
            pass
        if os.path.islink(cur) or not os.path.isdir(cur):
            raise UnsafePath(f"refusing to use {cur}: it is a symbolic link or a file, not a folder; "
                             f"remove it and run again")
    return target


def _check_target(dst: Path) -> None:
    if dst.is_symlink():
        raise UnsafePath(f"refusing to replace {dst}: it is a symbolic link (to {os.readlink(dst)}); "
                         f"remove it and run again")


@contextmanager
def atomic_open(root: str | Path, path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """A file object on a new temporary file beside ``path``, moved over ``path`` on success.

    The temporary file is created with ``O_EXCL | O_NOFOLLOW`` under a random name (a planted
    file or symlink of any fixed name is never followed), flushed and ``fsync``-ed before the
    replace, and removed when the block raises. ``path`` must not be a symlink.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    dst = inside(root, path)
    _check_target(dst)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _check_target(dst)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(root: str | Path, path: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``path`` inside ``root`` (see :func:`atomic_open`)."""
    with atomic_open(root, path, "wb") as f:
        f.write(data)
    return inside(root, path)


def write_text(root: str | Path, path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Atomically write ``text`` to ``path`` inside ``root`` (see :func:`atomic_open`)."""
    return write_bytes(root, path, text.encode(encoding))


def replace(root: str | Path, src: str | Path, dst: str | Path) -> Path:
    """``os.replace(src, dst)`` with both inside ``root`` and neither a symlink."""
    s, d = inside(root, src), inside(root, dst)
    _check_target(s)
    _check_target(d)
    os.replace(s, d)
    return d


def rmtree(root: str | Path, path: str | Path) -> None:
    """Remove a folder inside ``root``; a symlink in its place is unlinked, never followed."""
    p = Path(path)
    parent = inside(root, p.parent) if p.parent != p else _root(root)
    target = parent / p.name
    if target.is_symlink():
        target.unlink()
    else:
        shutil.rmtree(target, ignore_errors=True)


def try_lock(root: str | Path, path: str | Path) -> int | None:
    """Take an exclusive ``flock`` on ``path`` (created if missing); the open fd, or None when held.

    Release it with :func:`unlock`. The lock file is opened with ``O_NOFOLLOW`` and never
    truncated, so a symlink planted in its place is refused (UnsafePath), not overwritten.
    """
    p = inside(root, path)
    try:
        fd = os.open(p, os.O_RDWR | os.O_CREAT | O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP or p.is_symlink():
            raise UnsafePath(f"refusing the lock file {p}: it is a symbolic link (to {os.readlink(p)}); "
                             f"remove it and run again") from None
        raise
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return None
        raise
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken by :func:`try_lock`."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- faults of the machine

def _existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: str | Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    st = os.statvfs(_existing(Path(path)))
    return st.f_bavail * st.f_frsize


def fault(e: OSError, doing: str, where: str | Path | None = None, verb: str = "write") -> EnvironmentFault:
    """One line for an OSError of the machine: what failed, where, and what to do.

    ``where`` defaults to the error's file name; ``verb`` is the access a permission error
    denied ("write", or "read or write" when the caller cannot tell).
    """
    where = Path(e.filename) if e.filename and where is None else Path(where) if where else None
    at = f" {where}" if where else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(where) / MB if where else float("nan")
        what = "no space left" if e.errno == errno.ENOSPC else "disk quota exceeded"
        msg = (f"{doing}: {what} on the device of{at} ({free:.1f} MB free); free space there or set "
               f"reports_dir to a folder with room")
    elif e.errno == errno.EROFS:
        msg = (f"{doing}:{at} is on a read-only file system; remount it read-write or set reports_dir "
               f"to a writable folder")
    elif e.errno in (errno.EACCES, errno.EPERM):
        msg = (f"{doing}: no permission to {verb}{at} (user {_user()}, {os.strerror(e.errno)}); grant that "
               f"permission (or clear an immutable flag: lsattr, chattr -i), or set reports_dir to a writable "
               f"folder")
    else:
        msg = f"{doing}:{at}: {os.strerror(e.errno) if e.errno else e}"
    return EnvironmentFault(msg)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container
        return str(os.getuid())


def is_environment_error(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS


def folder_bytes(path: str | Path) -> int:
    """Total size of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            total += st.st_size
    return total


def check_writable(path: str | Path, need_bytes: int, what: str = "reports folder") -> int:
    """``path`` (or, when it does not exist yet, its nearest existing parent) takes a new file and has room.

    A probe file is written, ``fsync``-ed and removed (nothing is left behind, and no folder is
    created); then the free space is compared with ``need_bytes``. Returns the free bytes.

    Raises
    ------
    EnvironmentFault
        One line naming the folder, what is missing (permission, a writable file system,
        space: needed and available) and what to do.
    """
    d = _existing(Path(path))
    at = f"{path}" if d == Path(os.path.abspath(path)) else f"{path} (its nearest existing folder {d})"
    probe = d / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise fault(e, f"{what} {at} is not writable", d) from None
    free = free_bytes(d)
    if free < need_bytes:
        raise EnvironmentFault(f"{what} {at}: {free / MB:.1f} MB free, a pack needs about {need_bytes / MB:.1f} MB; "
                               f"free space there or set reports_dir to a folder with room")
    return free
