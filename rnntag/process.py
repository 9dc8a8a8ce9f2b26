"""What the command line sets up in its process before a command runs."""

from __future__ import annotations

import atexit
import errno
import gc
import io
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Hold off garbage collection while objects that live as long as the process are made,
    then leave them out of later collections.

    Importing torch makes some 160,000 such objects, and the collector, running meanwhile,
    walks them all several times over for nothing: a tenth of a second of start-up or more.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()


def exit_without_collecting() -> None:
    """At exit, leave the objects still alive to the interpreter's teardown without the last
    garbage collection walking them all first.

    With torch loaded (and, after training, its compiler and scikit-learn, which torch's
    optimisers and seqeval import) that walk takes a second or more of every command's
    exit; what the teardown itself does (flushing files, atexit handlers) stays the same.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def use_threads(threads: int) -> None:
    """Run the network on `threads` CPU threads, 0 for the automatic choice (`threads_for`)."""
    import torch

    from rnntag.model.device import threads_for

    torch.set_num_threads(threads_for(threads))


class ClosedOutput(io.TextIOBase):
    """Standard output for a process started without one (`rnntag info >&-`): writing to it
    is an error, as writing to a closed descriptor is."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "closed, so the results have nowhere to go")
