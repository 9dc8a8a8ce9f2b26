"""Where `rnntag tag` writes its tagged chunks: standard output, or the terminal's colours."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def chunk_writer(output: str, tag_field: str, types: list[str]) -> Callable[[Any, Any], None]:
    """What writes each tagged chunk: in one piece to standard output (which may be
    unbuffered), or, for `--output pretty`, to the terminal in one colour per entity type,
    after a legend (see `rnntag.console.pretty`)."""
    if output == "pretty":
        from rnntag.console.pretty import pretty_writer

        return pretty_writer(types)
    from rnntag.tagging.render import render

    def write(chunk: Any, columns: Any) -> None:
        sys.stdout.write(render(chunk, columns, output, tag_field))
        sys.stdout.flush()

    return write
