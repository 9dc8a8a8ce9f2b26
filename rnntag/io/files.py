"""Reading small files with a clear error, and writing files so that an interruption never
leaves half of one, nor half of a group of files that belong together."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from rnntag.errors import RnntagError

# What a small file (a config, a training curve) may hold at most.
MAX_SMALL_FILE = 64 << 20
# A group of files replaced together is written into STAGING; renaming it to COMMITTED is the
# moment the new group takes over from the old; its files are then moved into place.
STAGING = ".rnntag-staging"
COMMITTED = ".rnntag-committed"


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
        _make_readable(Path(tmp))
        _sync(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_together(directory: Path, writers: dict[str, Callable[[str], object]]) -> None:
    """Replace files of `directory` as one: killed at any moment, it leaves either all the old
    files or all the new ones, as `current` finds them. Files not named stay as they are.

    Args:
        directory: Where the files live; created if missing.
        writers: For each file name, a function that writes the file at the path it is given.
    """
    directory.mkdir(parents=True, exist_ok=True)
    finish_replacing(directory)
    staging = directory / STAGING
    # Left by a save killed before its commit: the old files are still the current ones.
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name, write in writers.items():
        write(str(staging / name))
        _make_readable(staging / name)
        _sync(staging / name)
    _sync(staging)
    os.rename(staging, directory / COMMITTED)
    _sync(directory)
    finish_replacing(directory)


def finish_replacing(directory: Path) -> None:
    """Move the files of a committed `replace_together` into place, if one was cut short."""
    committed = directory / COMMITTED
    if not committed.is_dir():
        return
    for entry in sorted(committed.iterdir()):
        os.replace(entry, directory / entry.name)
    _sync(directory)
    committed.rmdir()


def current(directory: Path, name: str) -> Path:
    """The path of file `name` of a group that `replace_together` writes: where a save was
    killed after its commit, the new file may still wait in COMMITTED, and is the one to read
    (reading never writes, so a model on a read-only disk still loads)."""
    waiting = directory / COMMITTED / name
    return waiting if waiting.exists() else directory / name


def _make_readable(path: Path) -> None:
    """Give a new file the mode of any new file: mkstemp, and safetensors, make it private."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _sync(path: Path) -> None:
    """Flush a file, or a directory's entries, to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        # Some systems cannot open or flush a directory (Windows, some network file systems);
        # a file that cannot be flushed is an error.
        if not path.is_dir():
            raise
