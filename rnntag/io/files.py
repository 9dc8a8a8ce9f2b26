"""Reading small files with a clear error, and writing files so that an interruption never
leaves half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from rnntag.errors import RnntagError

# What a small file (a config, a training curve) may hold at most.
MAX_SMALL_FILE = 64 << 20


def read_small_text(path: Path, what: str, limit: int = MAX_SMALL_FILE) -> str:
    """The whole of a UTF-8 file, or an error naming it and `what` it was meant to be. A
    FIFO, a device (`/dev/zero`, even through a link) or a file over `limit` bytes is
    refused before it is opened.

    Args:
        path: The file.
        what: What it holds, for the message ("model config").
        limit: The largest size accepted, in bytes.

    Returns:
        Its text.
    """
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise RnntagError(f"cannot read {what}: not a regular file", str(path))
        if status.st_size > limit:
            raise RnntagError(f"cannot read {what}: larger than {limit >> 20} MB", str(path))
        # Exactly as written (no newline translation): a vocabulary entry may hold a CR.
        with open(path, encoding="utf-8", newline="") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RnntagError(f"cannot read {what} ({exc.__class__.__name__})", str(path)) from None


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write a file through a temporary file in the same directory, renamed into place, so an
    interruption leaves either the old file or the new one.

    Args:
        path: Destination.
        write: Called with the temporary file's path; writes the content there.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private; a model should be as readable as any new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
