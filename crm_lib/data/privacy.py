"""Pseudonymise customer identifiers and drop PII before data leaves the warehouse.

The pseudonym is a keyed, nested SHA-256 (the NMAC construction of Bellare, Canetti &
Krawczyk 1996, the basis of HMAC): ``P`` + the first 15 hex digits of
``sha256(k_out || sha256(k_in || customer_id))``, where ``k_in`` and ``k_out`` are derived
from the key. The same key gives the same pseudonym in every run and period, so lists can
be compared over time; without the key, pseudonyms cannot be reversed or recomputed.

The key comes from the environment variable ``CRM_PSEUDONYM_KEY``. When it is unset a
random per-install key is created in ``~/.config/crm-workbench/pseudonym.key`` and a loud
warning is logged: pseudonyms are then stable on this machine only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

import pandas as pd

from crm_lib.data.schema import PII_COLUMNS

logger = logging.getLogger(__name__)

KEY_ENV = "CRM_PSEUDONYM_KEY"
PSEUDONYM_HEX = 15
ID_COLUMN = "customer_id"


def key_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "crm-workbench" / "pseudonym.key"


def check_key_file(path: Path) -> None:
    """Refuse a per-install key that others could read or replace.

    Raises
    ------
    EnvironmentFault
        The key file is a symlink, is not owned by this user, or is readable or writable by
        group or others; or its folder is writable by group or others (anyone could swap the key).
        The message gives the ``chmod`` that fixes it.
    """
    from crm_lib.errors import EnvironmentFault

    folder = path.parent
    if folder.is_dir() and os.stat(folder).st_mode & 0o022:
        mode = os.stat(folder).st_mode & 0o777
        raise EnvironmentFault(f"the pseudonym key's folder {folder} is writable by others (mode {mode:04o}), so "
                               f"anyone could replace the key: run `chmod 700 {folder}`, or set {KEY_ENV}")
    if path.is_symlink():
        raise EnvironmentFault(f"the pseudonym key file {path} is a symbolic link (to {os.readlink(path)}): "
                               f"replace it with the key file itself (mode 0600), or set {KEY_ENV}")
    if not path.exists():
        return
    st = os.stat(path)
    if st.st_uid != os.geteuid():
        raise EnvironmentFault(f"the pseudonym key file {path} belongs to user id {st.st_uid}, not to this user "
                               f"({os.geteuid()}): use your own key file, or set {KEY_ENV}")
    if st.st_mode & 0o077:
        raise EnvironmentFault(f"the pseudonym key file {path} is open to others (mode {st.st_mode & 0o777:04o}): "
                               f"anyone who read it can recompute the pseudonyms. Run `chmod 600 {path}` and treat "
                               f"the key as exposed (set {KEY_ENV} from your secrets manager), then run again")


def pseudonym_key() -> str:
    """The pseudonymisation key: from the environment, else the per-install key file.

    The key file is created mode 0600 in a folder of mode 0700 (whatever the umask), and an
    existing one that others can read or replace is refused (``check_key_file``).
    """
    key = os.environ.get(KEY_ENV)
    if key:
        return key
    path = key_file()
    if not path.parent.is_dir():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path.parent, 0o700)
        except FileExistsError:
            pass
        os.chmod(path.parent, 0o700)  # the umask may have taken bits away (or, at 000, added none)
    check_key_file(path)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    logger.warning("%s is not set: pseudonyms use the per-install key in %s and will differ on "
                   "other machines. Set %s (e.g. from your secrets manager) for stable pseudonyms.",
                   KEY_ENV, path, KEY_ENV)
    return path.read_text().strip()


def _subkeys(key: str) -> tuple[str, str]:
    k_in = hashlib.sha256(b"crm-workbench/inner/" + key.encode()).hexdigest()
    k_out = hashlib.sha256(b"crm-workbench/outer/" + key.encode()).hexdigest()
    return k_in, k_out


def pseudonymise_id(customer_id: str, key: str, prefix: str = "P") -> str:
    """Pseudonym of one identifier (the Python twin of ``pseudonym_sql``)."""
    k_in, k_out = _subkeys(key)
    inner = hashlib.sha256((k_in + str(customer_id)).encode()).hexdigest()
    return prefix + hashlib.sha256((k_out + inner).encode()).hexdigest()[:PSEUDONYM_HEX]


def pseudonymise_ids(customer_ids, key: str) -> list[str]:
    """Pseudonyms of many identifiers (``pseudonymise_id`` with the subkeys derived once)."""
    k_in, k_out = (k.encode() for k in _subkeys(key))
    sha = hashlib.sha256
    return ["P" + sha(k_out + sha(k_in + str(c).encode()).hexdigest().encode()).hexdigest()[:PSEUDONYM_HEX]
            for c in customer_ids]


def pseudonym_sql(column: str, key: str, prefix: str = "P") -> str:
    """A DuckDB SQL expression computing the pseudonym of ``column``.

    ``prefix`` marks what kind of record the pseudonym stands for: ``P`` a customer, ``C`` a
    complaint (a complaint id maps 1:1 to a customer, so it is never shown raw beside a
    customer's pseudonym).
    """
    if prefix not in ("P", "C"):
        raise ValueError(f"pseudonym prefix {prefix!r}: expected 'P' or 'C'")
    k_in, k_out = _subkeys(key)
    return (f"'{prefix}' || substr(sha256('{k_out}' || sha256('{k_in}' || CAST({column} AS VARCHAR))), 1, "
            f"{PSEUDONYM_HEX})")


def safe_frame(df: pd.DataFrame, key: str | None = None, id_column: str = ID_COLUMN) -> pd.DataFrame:
    """A copy of ``df`` with PII columns dropped and ``id_column`` pseudonymised."""
    out = df.drop(columns=[c for c in PII_COLUMNS if c in df.columns])
    if id_column in out.columns:
        key = key or pseudonym_key()
        uniq = pd.unique(out[id_column].astype(str))
        lookup = dict(zip(uniq, pseudonymise_ids(uniq, key)))
        out[id_column] = out[id_column].astype(str).map(lookup)
    return out


def assert_no_pii(df: pd.DataFrame, where: str = "frame") -> None:
    """Raise when a PII column is present: the last guard before output."""
    found = [c for c in PII_COLUMNS if c in df.columns]
    if found:
        raise ValueError(f"{where}: PII column(s) {found} must not leave the warehouse")
