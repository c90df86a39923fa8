"""Safe file writing: a failure never leaves a half-written file, and a run folder never mixes two runs.

Files get the mode ``open()`` would give them (``0o666`` less the umask), not the private ``0o600``
of a temporary file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask_mode(mode: int = 0o666) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _writable_folder(folder: Path, target: Path) -> None:
    """Create ``folder`` (and parents) or raise an ``OSError`` naming ``target`` and the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{target}: cannot write it, {folder} is a file, not a folder") from None
    except OSError as err:
        raise type(err)(err.errno, f"{target}: cannot create the folder {folder} ({err.strerror})") from None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    If the body raises, the temporary file is removed and ``path`` is left as it was. A ``path``
    that is a folder, or a folder that cannot be written, raises an ``OSError`` that names it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected the path of a file to write")
    _writable_folder(path.parent, path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise type(err)(err.errno, f"{path}: cannot write in {path.parent} ({err.strerror})") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its nearest existing parent, which must be a folder (else ``NotADirectoryError``)."""
    existing = folder if folder.exists() else next(p for p in folder.parents if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"{folder}: cannot be created, {existing} is a file")
    return existing


def _probe_writable(existing: Path, target: Path) -> None:
    """Create and remove a folder in ``existing``: permissions alone do not tell (``/proc`` looks
    writable to root). An ``OSError`` names ``target`` and the reason."""
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{target}: cannot write in {existing} (permission denied)")
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".latentseg-probe-"))
    except OSError as err:
        raise type(err)(f"{target}: cannot write in {existing} ({err.strerror})") from None


def check_run_folder(folder: str | os.PathLike, names: Iterable[str]) -> Path:
    """Check, before any long work, that ``folder`` can receive a run's files ``names``.

    ``folder`` must be a folder (or not exist yet, with a parent that can be created) that can be
    written, and must hold nothing but files of those names; an ``OSError`` or ``ValueError`` names the
    problem. Returns ``folder`` as a ``Path``.
    """
    folder, names = Path(folder), set(names)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file; expected a folder for {', '.join(sorted(names))}")
    existing = _nearest_existing(folder)
    writable = existing.parent if existing == folder else existing  # the folder is replaced whole, from its parent
    _probe_writable(writable, folder)
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in names or not p.is_file())
        if others:
            raise ValueError(f"{folder}: holds {', '.join(others[:5])}, which are not a run's files "
                             f"({', '.join(sorted(names))}); give a new or empty folder, or a previous run's")
    return folder


def check_out_folder(folder: str | os.PathLike) -> Path:
    """Check, before any long work, that ``folder`` is (or can be created as) a folder that can be
    written; an ``OSError`` names why not. Nothing is created yet."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: cannot write into it, it is a file, not a folder")
    _probe_writable(_nearest_existing(folder), folder)
    return folder


@contextmanager
def run_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty staging folder; on success it takes the place of ``folder`` whole.

    Everything a run writes goes into the staging folder, so ``folder`` holds either the previous
    run's files or this run's, never a mix. If the body raises, the staging folder is removed and
    ``folder`` is left as it was.
    """
    folder = Path(folder)
    _writable_folder(folder.parent, folder)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".new"))
    os.chmod(staging, _umask_mode(0o777))
    try:
        yield staging
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
            os.replace(folder, old / folder.name)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
