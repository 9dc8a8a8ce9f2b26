"""Tagged text for a person (`--output pretty`): entities in one colour per type, word tags
dimmed. It imports neither torch nor the training loop, so that `rnntag tag --workers N
--output pretty` keeps torch out of the parent process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from rnntag.console.results import results_console
from rnntag.io.sentence import InputSentence
from rnntag.tagging.render import Column

_ENTITY_STYLES = ("bold magenta", "bold cyan", "bold green", "bold yellow", "bold blue", "bold red")


def entity_styles(types: Sequence[str]) -> dict[str, str]:
    """A colour for each entity type, the same for the whole run (`types` in a fixed order);
    types that no model announced get the last one."""
    return {label: _ENTITY_STYLES[i % len(_ENTITY_STYLES)] for i, label in enumerate(types)}


def print_legend(console: Console, styles: dict[str, str]) -> None:
    """One line naming each entity type in its colour, shown before `--output pretty`."""
    if styles:
        legend = Text("entities: ", style="dim")
        for i, (label, style) in enumerate(styles.items()):
            legend.append(("  " if i else "") + label, style=style)
        console.print(legend)


_JOIN = "\u00b7"  # a middle dot


def print_tagged(
    console: Console,
    sentence: InputSentence,
    columns: Sequence[Column],
    styles: dict[str, str],
) -> None:
    """Show a tagged sentence for a person: entities highlighted in their type's colour and
    labelled, plain tags (POS) dimmed after each word; plain text keeps its spacing."""
    from rnntag.io.schemes import to_spans
    from rnntag.tagging.tagged import offsets, text_of

    plain = [c.prediction.tags for c in columns if not c.spans]
    starts: dict[int, tuple[str, int]] = {}
    for column in columns:
        if column.spans:
            for label, first, end in to_spans(column.prediction.tags):
                starts.setdefault(first, (label, end))
    places, source = offsets(sentence), text_of(sentence)
    shift = places[0][0]  # plain-text offsets count from the start of the whole input

    def between(i: int, j: int) -> str:
        """The text from token i to token j - 1, as it stood."""
        return source[places[i][0] - shift : places[j - 1][1] - shift]

    text = Text()
    i = 0
    while i < len(sentence.tokens):
        if i:
            # The space before the token as it stood, but a line break shows as one space,
            # and so does no space where tags after each word would run words together.
            gap = source[places[i - 1][1] - shift : places[i][0] - shift]
            text.append(" " if (plain and not gap) or "\n" in gap or "\r" in gap else gap)
        if i in starts:
            label, end = starts[i]
            style = styles.get(label, _ENTITY_STYLES[-1])
            text.append(between(i, end), style=style)
            # Joined without a space (rich wraps at any, no-break ones too): the label stays
            # on the line of its entity.
            text.append(f"{_JOIN}{label}", style=f"{style} dim")
            i = end
            continue
        text.append(sentence.tokens[i])
        for tags in plain:
            text.append(f"/{tags[i]}", style="dim")
        i += 1
    console.print(text)


def pretty_writer(types: list[str]) -> Callable[[Sequence[InputSentence], list[Any]], None]:
    """What writes `--output pretty`: a legend, then each chunk's sentences with one colour
    per entity type of `types`."""
    console, styles = results_console(highlight=False), entity_styles(types)
    print_legend(console, styles)

    def show(chunk: Sequence[InputSentence], columns: list[Any]) -> None:
        for sentence, sentence_columns in zip(chunk, columns, strict=True):
            print_tagged(console, sentence, sentence_columns, styles)

    return show
