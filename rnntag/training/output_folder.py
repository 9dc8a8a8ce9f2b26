"""The output folder of a training. rnntag trains only into a new or empty folder, unless
asked to replace the model there (`force`) or to continue its training (`resume`); it then
writes only its own files, beside any others. One training at a time holds a folder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from rnntag.errors import RnntagError, UsageError
from rnntag.io.files import current
from rnntag.model.directory import CONFIG_FILE
from rnntag.training.checkpoint import CHECKPOINT_DIR, STATE_FILE

try:
    import fcntl
except ImportError:  # Windows: trainings into one folder are not kept apart
    fcntl = None  # type: ignore[assignment]

# Held (flock) by the training that writes the folder, and names it; removed at its end.
LOCK_FILE = ".rnntag.lock"


@contextlib.contextmanager
def claim_output(out: Path, force: bool, resume: bool) -> Iterator[None]:
    """Check that a training may write `out`, and hold it while the block runs. A folder this
    made and the block's failure left empty is removed.

    Args:
        out: The model directory to write.
        force: Replace the model there (rnntag's files only).
        resume: Continue the training whose checkpoint is there.
    """
    if out.exists() and not out.is_dir():
        raise UsageError("is not a directory", str(out))
    if resume and not (out / CHECKPOINT_DIR).is_dir():
        raise RnntagError("no checkpoint to resume from", str(out / CHECKPOINT_DIR))
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
    except OSError as exc:
        raise RnntagError(f"cannot write the model directory: {exc.strerror}", str(out)) from None
    try:
        if not (force or resume):
            _check_empty(out)
        yield
    finally:
        _unlock(out, lock)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()


def _check_empty(out: Path) -> None:
    if (out / CONFIG_FILE).exists():
        raise UsageError(
            "already holds a model; choose another directory, or overwrite it with --force"
            " (force=True)",
            str(out),
        )
    if current(out / CHECKPOINT_DIR, STATE_FILE).exists():
        raise UsageError(
            "holds an interrupted training; continue it with --resume, or start again with --force",
            str(out),
        )
    others = sorted(entry.name for entry in out.iterdir() if entry.name != LOCK_FILE)
    if others:
        raise UsageError(
            f"is not empty (it holds {others[0]!r}); rnntag trains into a new or empty folder,"
            " or, with --force (force=True), writes its own files beside the others",
            str(out),
        )


def _lock(out: Path) -> int | None:
    """Take the folder's lock, or fail naming the training that holds it."""
    if fcntl is None:
        return None
    path = out / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 500).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RnntagError(
                f"another training is writing this folder ({holder}); wait for it to end,"
                " or choose another directory",
                str(out),
            ) from None
        # The holder before us may have removed the file between our open and our lock.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        os.close(fd)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} on {socket.gethostname()}, since {started}\n".encode())
    return fd


def _unlock(out: Path, fd: int | None) -> None:
    if fd is None:
        return
    # Removed while still held, so that no other training locks the file being removed.
    with contextlib.suppress(OSError):
        (out / LOCK_FILE).unlink()
    os.close(fd)
