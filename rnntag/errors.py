"""The one exception type the library raises for problems a user can fix."""

from __future__ import annotations


class RnntagError(Exception):
    """A problem with the user's data, model or settings.

    Args:
        message: What is wrong, in one line.
        path: The file concerned, if any.
        line: The 1-based line number in that file, if known.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __reduce__(self) -> tuple[type, tuple[str, str | None, int | None]]:
        # So that an error raised in another process (a worker) arrives whole.
        return type(self), (self.message, self.path, self.line)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return where + self.message


class UsageError(RnntagError):
    """A setting the user gave that cannot work (`--epochs 0`, `--lr inf`): the command line
    exits with 2 for it, as for any bad option."""
