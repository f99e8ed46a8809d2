"""Files written whole or not at all: a reader never sees a cut file, whatever kills the writer.

Each file is written under a temporary name in the same folder, flushed to disk, then renamed over
the target (atomic on POSIX), and the folder entry is flushed too.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

CLAIM_FILE = ".goalcluster.claim"


class DamagedFileError(ValueError):
    """A file goalcluster wrote cannot be read back: it names the file, the line and the fix."""


class FolderInUse(RuntimeError):
    """Another process is working in the folder (a run, a resume or a chat thread)."""


def claim(folder: Path) -> IO[str]:
    """Hold ``folder`` for this process until the returned handle is closed (or the process ends,
    however it ends): a second process claiming it gets :class:`FolderInUse` at once."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / CLAIM_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise FolderInUse(
            f"{folder} is in use by {holder}. Wait until it ends, or work in another folder "
            "(--out, --thread)."
        ) from None
    handle.truncate(0)
    handle.write(f"goalcluster process {os.getpid()}")
    handle.flush()
    return handle


@contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """:func:`claim` for the length of a block."""
    handle = claim(folder)
    try:
        yield
    finally:
        handle.close()


@contextmanager
def replacing(path: Path, *, newline: str | None = None, binary: bool = False) -> Iterator[IO[Any]]:
    """A file (text, or bytes if ``binary``) to write ``path``'s new content into; it replaces
    ``path`` only if the block finishes (an error leaves the old file, or none, in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        opened = temporary.open("wb") if binary else temporary.open("w", encoding="utf-8", newline=newline)
        with opened as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_folder(path.parent)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Replace ``path`` with ``content`` (text as UTF-8) in one step."""
    with replacing(path, binary=isinstance(content, bytes)) as out:
        out.write(content)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
