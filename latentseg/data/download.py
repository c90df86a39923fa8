"""Downloads that are verified and atomic: a failed or interrupted fetch leaves nothing behind.

A file is streamed to a temporary name beside its destination, its checksum checked, and only
then renamed into place. An archive is unpacked into a temporary folder beside the destination and
renamed in one step, so a folder that exists is always complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from ..files import atomic_path

DATA_ENV = "LATENTSEG_DATA"
_BLOCK = 1 << 20


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where data sets live: ``root`` if given, else ``$LATENTSEG_DATA``, else ``~/.cache/latentseg``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / ".cache" / "latentseg"


def file_md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=60)


def _copy_with_progress(response: BinaryIO, out: BinaryIO, name: str) -> None:
    """Copy in 1 MiB blocks under a tqdm bar (a widget in notebooks, text in terminals), sized from
    the response's ``Content-Length`` when it gives one."""
    headers = getattr(response, "headers", None)
    length = headers.get("Content-Length") if headers is not None else None
    with tqdm(total=int(length) if length else None, unit="B", unit_scale=True, unit_divisor=1024,
              desc=f"downloading {name}") as bar:
        for block in iter(lambda: response.read(_BLOCK), b""):
            out.write(block)
            bar.update(len(block))


def download(url: str, path: str | os.PathLike, md5: str, opener: Callable[[str], BinaryIO] | None = None) -> Path:
    """Fetch ``url`` to ``path`` unless a file with the right MD5 is already there.

    Raises ``ValueError`` on a checksum mismatch and re-raises network errors; in both cases the
    destination is left as it was (absent, or the previous file).
    """
    path = Path(path)
    if path.is_file() and file_md5(path) == md5:
        return path
    created = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]  # deepest first
    try:
        with atomic_path(path) as tmp:
            with (opener or _open)(url) as response, open(tmp, "wb") as out:
                _copy_with_progress(response, out, path.name)
            got = file_md5(tmp)
            if got != md5:
                raise ValueError(f"download: {url} has MD5 {got}, expected {md5}; the file was discarded, try again")
    except BaseException:
        for folder in created:  # leave no empty folders behind either
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return path


def extract(archive: str | os.PathLike, parent: str | os.PathLike, member: str) -> Path:
    """Unpack the top-level folder ``member`` of a tar archive to ``parent/member``, atomically.

    The archive is unpacked into a temporary folder in ``parent``; ``member`` is renamed into place
    only when everything was read, so ``parent/member`` either is complete or does not exist.
    """
    archive, parent = Path(archive), Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{member}.", suffix=".tmp"))
    try:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")  # refuses absolute paths, .. and links out of the folder
        except (tarfile.TarError, EOFError, OSError) as err:
            raise ValueError(f"archive: cannot unpack {archive} ({err})") from err
        if not (staging / member).is_dir():
            raise ValueError(f"archive: {archive} has no top-level folder {member!r}")
        os.replace(staging / member, parent / member)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return parent / member
