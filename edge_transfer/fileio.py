"""Atomic writes: nothing the user already saved is lost or left half-written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputExistsError, OptionError


_HASHES: dict[tuple, str] = {}  # file version -> sha256, this process only
_RACY_NS = 2_000_000_000


def sha256_file(path: Path) -> str:
    """The file's sha256, computed once per process per file version, so a stage that writes
    a file and the next that verifies it (export, then bench or adapt) do not both read 100 MB.
    A version is the inode with its size, mtime and ctime (any write or ``os.utime`` moves the
    ctime). As in git's "racily clean" rule, a file changed less than two seconds before it is
    hashed is not cached: timestamps are coarser than the time two writes can take."""
    import time

    st = os.stat(path)
    version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if version in _HASHES:
        return _HASHES[version]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        if len(_HASHES) >= 4096:
            _HASHES.clear()
        _HASHES[version] = digest.hexdigest()
    return digest.hexdigest()


def check_output_dir(path: Path, force: bool, inputs: tuple = ()) -> None:
    """Refuse, before any work is done, an output that exists (without ``force``), that is or
    holds or lies inside one of ``inputs`` (replacing it would destroy what is read), or
    whose folder cannot be written; a refusal writes nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"output {path} exists and is not a folder; choose another --output")
    out = path.resolve()
    for source in inputs:
        if source is None:
            continue
        src = Path(source).resolve()
        if out == src or src.is_relative_to(out) or out.is_relative_to(src):
            raise OptionError(f"--output {path} is, holds or lies inside the input {source}; "
                              "choose an --output outside it")
    if path.exists() and not force:
        raise OutputExistsError(
            f"output folder {path} already exists; choose another --output or pass --force to replace it"
        )
    check_writable(path)


def check_writable(path: Path) -> None:
    """Refuse an output whose nearest existing folder cannot take a new entry (tried, not
    guessed from permission bits: root ignores them, a read-only mount does not)."""
    parent = Path(path).resolve().parent
    while not parent.exists():
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".edge-transfer-probe-", dir=parent))
    except OSError as exc:
        raise OptionError(f"cannot write in {parent} ({exc.strerror}); choose a writable --output") from None


@contextmanager
def atomic_output_dir(path: Path, force: bool, inputs: tuple = ()):
    """Yield a temporary sibling folder; on success it replaces ``path`` in one rename.

    An interrupt, SIGTERM (the CLI turns it into an exception) or error leaves ``path``
    exactly as it was (the temp folder is removed).
    """
    path = Path(path)
    check_output_dir(path, force, inputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"cannot create {path.parent} ({exc.strerror}); choose a writable --output") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        _apply_umask(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        # Swap via a backup so the old folder survives until the new one is in place.
        backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rename(path, backup / path.name)
        os.rename(tmp, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.rename(tmp, path)


def _apply_umask(folder: Path) -> None:
    """mkdtemp and some writers create 0700/0600 entries; give them the user's usual mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for entry in folder.rglob("*"):
        os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~umask)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{path} is a folder; give a file path to write to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"cannot create {path.parent} ({exc.strerror}); choose a writable path") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OptionError(f"cannot write in {path.parent} ({exc.strerror}); choose a writable path") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")

