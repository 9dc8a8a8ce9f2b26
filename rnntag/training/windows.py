"""Truncated backpropagation through time for long sentences: a sentence longer than the
window size is trained as overlapping windows, each a training item of its own, so that
training memory is bounded whatever the file holds. Each window scores (in the loss) only
its core, and reads `CONTEXT_SHARE` of the window on each side as context, which both
directions of the BiRNN run over and the CRF sums over (the context's tags are left free:
the loss is log p(core's gold tags | window)). The cores tile the sentence exactly once.
Tagging still reads every sentence whole. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

# Share of a window given to context on each side of its core.
CONTEXT_SHARE = 4


@dataclass(frozen=True)
class Window:
    """A stretch of one training sentence, with the part of it that is scored.

    Attributes:
        sentence: The sentence's index.
        start: First token of the window.
        end: Token after the window's last.
        scored_start: First token of the core, whose gold tags the loss scores.
        scored_end: Token after the core's last.
    """

    sentence: int
    start: int
    end: int
    scored_start: int
    scored_end: int


def plan_windows(lengths: list[int], size: int) -> list[Window]:
    """The training items of sentences of `lengths` tokens: each sentence whole where it is
    at most `size` tokens long (or `size` is 0), else overlapping windows of at most `size`.

    Args:
        lengths: Tokens of each sentence.
        size: Most tokens of a window; 0 for none.

    Returns:
        The windows, in sentence order; a sentence kept whole is one window, all scored.
    """
    found = []
    context = max(1, size // CONTEXT_SHARE)
    core = size - 2 * context
    for i, length in enumerate(lengths):
        if size <= 0 or length <= size or core < 1:
            found.append(Window(i, 0, length, 0, length))
            continue
        for first in range(0, length, core):
            last = min(first + core, length)
            found.append(
                Window(i, max(0, first - context), min(length, last + context), first, last)
            )
    return found
