"""Reading small files with a clear error, and writing files so that an interruption never
leaves half of one, nor half of a group of files that belong together."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rnntag.errors import RnntagError, UsageError

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


def parse_json(text: str, path: Path, what: str, first_line: int = 1) -> Any:
    """Parse JSON from a file a user or an attacker may have edited, or fail in one line:
    bad syntax (with its line), numbers too long for Python to convert (over 4,300 digits),
    nesting too deep to parse, or a lone surrogate (`"\\ud800"`), which no UTF-8 file can
    hold and so could never be written out again.

    Args:
        text: The JSON text.
        path: Its file, for the message.
        what: What it holds ("model config").
        first_line: The file's line on which `text` starts.

    Returns:
        The parsed value.
    """
    try:
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        line = first_line + exc.lineno - 1
        raise RnntagError(f"{what} is not valid JSON: {exc.msg}", str(path), line) from None
    except UnicodeEncodeError:
        raise RnntagError(f"{what} holds a lone surrogate (\\ud800-\\udfff)", str(path)) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise RnntagError(f"{what} cannot be read: {reason}", str(path)) from None
    return value


def check_output(
    target: str | Path, inputs: Iterable[str | Path] = (), models: Iterable[Path] = ()
) -> None:
    """Refuse an output that would replace what the command reads: a path that resolves,
    through links too, to one of its `inputs` or to anything inside one of its `models`'
    directories (or to the directory itself).

    Raises:
        UsageError: What the output would replace.
    """
    where = Path(target).resolve()
    for source in inputs:
        if source != "-" and Path(source).resolve() == where:
            raise UsageError(f"{target} would overwrite an input ({source})")
    for directory in models:
        folder = Path(directory).resolve()
        if where == folder or folder in where.parents:
            raise UsageError(f"{target} would overwrite a file of the model {directory}")


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write a file through a temporary file in the same directory, renamed into place, so an
    interruption leaves either the old file or the new one.

    Args:
        path: Destination.
        write: Called with the temporary file's path; writes the content there.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise _cannot("write", exc, path) from exc
    try:
        write(tmp)
        _make_readable(Path(tmp))
        _sync(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        # An error of the content's own (bad input, say) is no failure to write.
        if isinstance(exc, Exception) and not isinstance(exc, RnntagError):
            raise _cannot("write", exc, path) from exc
        raise


def replace_together(directory: Path, writers: dict[str, Callable[[str], object]]) -> None:
    """Replace files of `directory` as one: killed at any moment, it leaves either all the old
    files or all the new ones, as `current` finds them. Files not named stay as they are.

    Args:
        directory: Where the files live; created if missing.
        writers: For each file name, a function that writes the file at the path it is given.
    """
    staging = directory / STAGING
    try:
        directory.mkdir(parents=True, exist_ok=True)
        finish_replacing(directory)
        # Left by a save killed before its commit: the old files are still the current ones.
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name, write in writers.items():
            write(str(staging / name))
            _make_readable(staging / name)
            _sync(staging / name)
        _sync(staging)
    except Exception as exc:
        # A full disk, say: the old files stay, and the new ones' space is given back.
        shutil.rmtree(staging, ignore_errors=True)
        raise _cannot("save", exc, directory) from exc
    try:
        os.rename(staging, directory / COMMITTED)
        _sync(directory)
        finish_replacing(directory)
    except OSError as exc:
        raise _cannot("save", exc, directory) from exc


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


def _cannot(action: str, exc: Exception, path: Path) -> RnntagError:
    """The error for a file that could not be written: a full disk, a name too long, ..."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return RnntagError(f"cannot {action}: {reason}", str(path))


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
