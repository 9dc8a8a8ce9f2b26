"""Plain-text sentence splitting and tokenisation into UD English conventions."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnntag.io.text import split_text


def tokens(text: str) -> list[list[str]]:
    return [[t.text for t in sentence] for sentence in split_text(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't know.", [["I", "do", "n't", "know", "."]]),
        ("The U.S. paid $1,000.50", [["The", "U.S.", "paid", "$", "1,000.50"]]),
        ("Mail bob@example.com or see https://example.com/a?b=1 now",
         [["Mail", "bob@example.com", "or", "see", "https://example.com/a?b=1", "now"]]),
        ("a 15-year term", [["a", "15", "-", "year", "term"]]),
        ("my e-mail about non-human rights", [["my", "e-mail", "about", "non-human", "rights"]]),
        ("I cannot go, gonna stay", [["I", "can", "not", "go", ",", "gon", "na", "stay"]]),
        ("my iPhone and McDonald's", [["my", "iPhone", "and", "McDonald", "'s"]]),
        ("Really!!! Why?!", [["Really", "!!!"], ["Why", "?!"]]),
        ("and/or on 08/16/2000", [["and", "/", "or", "on", "08/16/2000"]]),
        ("Hello world. How are you?", [["Hello", "world", "."], ["How", "are", "you", "?"]]),
        ("First paragraph\n\nSecond one", [["First", "paragraph"], ["Second", "one"]]),
        ("Dr. Jane M. Smith works for Acme Inc. in Oslo.",
         [["Dr.", "Jane", "M.", "Smith", "works", "for", "Acme", "Inc.", "in", "Oslo", "."]]),
        ("Cafe\u0301 Nero and nai\u0308ve art",
         [["Cafe\u0301", "Nero", "and", "nai\u0308ve", "art"]]),
        ("", []),
        ("   \n\n  ", []),
    ],
)  # fmt: skip
def test_tokenisation_follows_ud_english(text, expected):
    assert tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ask Dr. Smith at 3 p.m. on Jan. 5th... Really?!",
         ["ask Dr. Smith at 3 p.m. on Jan. 5th ...", "Really ?!"]),
        ("I met Mr. Brown on Sept. 3. He left.", ["I met Mr. Brown on Sept. 3 .", "He left ."]),
        ("It was No. 7 in Jan. Then we left.", ["It was No. 7 in Jan.", "Then we left ."]),
        ("Prices rose in Jan. and fell in Feb.", ["Prices rose in Jan. and fell in Feb."]),
        ("Call me on Dec. 24 at noon.", ["Call me on Dec. 24 at noon ."]),
        ("Ask Prof. Ng. Or Sen. Warren.", ["Ask Prof. Ng .", "Or Sen. Warren ."]),
    ],
)  # fmt: skip
def test_sentences_do_not_end_after_titles_or_inside_dates(text, expected):
    assert [" ".join(sentence) for sentence in tokens(text)] == expected


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_offsets_point_at_the_tokens(text):
    previous_end = 0
    for sentence in split_text(text):
        assert sentence
        for token in sentence:
            assert text[token.start : token.end] == token.text
            assert token.text and not any(c.isspace() for c in token.text)
            assert token.start >= previous_end
            previous_end = token.end


@given(
    st.lists(st.sampled_from(["Ada", "don't", "U.S.", "15-year", "e-mail", "!!", ".", "x@y.org"]))
)
def test_no_text_is_lost(words):
    text = " ".join(words)
    covered = "".join(t.text for sentence in split_text(text) for t in sentence)
    assert covered == text.replace(" ", "")


FORMAT_CHARACTERS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f"]
FORMAT_CHARACTERS += ["\u202e", "\u2066", "\U000e0001"]


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["Paris", "Ada", "O'Brien", ".", "15-year", "don't", "U.S."]),
            st.sampled_from(FORMAT_CHARACTERS),
            st.sampled_from([" ", "\n", "\n\n"]),
        ),
        max_size=20,
    )
)
def test_format_characters_are_never_a_token_nor_a_token_edge(pieces):
    text = "".join(pieces)
    for sentence in split_text(text):
        for token in sentence:
            assert text[token.start : token.end] == token.text
            assert unicodedata.category(token.text[0]) != "Cf"
            assert unicodedata.category(token.text[-1]) != "Cf"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I like\u200bParis\u200b.", ["I", "like", "Paris", "."]),
        ("Hello world\u200b", ["Hello", "world"]),
        # A soft hyphen or a joiner stays inside its word.
        ("Par\u00adis is nice.", ["Par\u00adis", "is", "nice", "."]),
        ("\ufeffAda met\u200e Oslo.", ["Ada", "met", "Oslo", "."]),
    ],
)
def test_format_characters_separate_or_join_words(text, expected):
    assert [t.text for sentence in split_text(text) for t in sentence] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sinead O'Connor met Conan O'Brien", ["Sinead", "O'Connor", "met", "Conan", "O'Brien"]),
        ("D'Angelo in Coeur d'Alene", ["D'Angelo", "in", "Coeur", "d'Alene"]),
        ("O\u2019Hara and l'Aquila", ["O\u2019Hara", "and", "l'Aquila"]),
        # The possessive and contractions still split off.
        ("McDonald's and O'Neill's", ["McDonald", "'s", "and", "O'Neill", "'s"]),
        ("I'M SURE HE'S", ["I", "'M", "SURE", "HE", "'S"]),
        ("y'all rock'n'roll", ["y", "'all", "rock", "'n", "'roll"]),
    ],
)
def test_names_with_an_elided_article_stay_whole(text, expected):
    assert [t.text for sentence in split_text(text) for t in sentence] == expected


@given(
    st.sampled_from("ODdLl"),
    st.sampled_from(["'", "\u2019"]),
    # Three letters at least: `'ll`, `'re`, `'ve` are contractions, split off as they should.
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8),
)
def test_a_single_letter_an_apostrophe_and_a_capitalised_word_is_one_token(letter, mark, rest):
    name = f"{letter}{mark}{rest.capitalize()}"
    tokens = [t.text for sentence in split_text(f"We met {name} today.") for t in sentence]
    assert tokens == ["We", "met", name, "today", "."]


def test_kept_forms_are_the_recurring_tokens_with_inner_punctuation():
    from rnntag.io.text import kept_forms

    corpus = [["In", "'s-Hertogenbosch", "zei", "d'r", "man"], ["'s-Hertogenbosch", "d'r", "."]]
    corpus += [["Jean-Luc", "Jean-Luc", "z'n", "..."]]
    # Recurring, holding a letter and something else, not a plain hyphenated compound.
    assert kept_forms(corpus) == ["'s-Hertogenbosch", "d'r"]


@pytest.mark.parametrize(
    ("text", "forms", "expected"),
    [
        ("Ik woon in 's-Hertogenbosch, zei d'r man.", {"'s-Hertogenbosch", "d'r"},
         ["Ik", "woon", "in", "'s-Hertogenbosch", ",", "zei", "d'r", "man", "."]),
        # Only touching pieces join: with a space between they stay apart.
        ("zei d 'r man", {"d'r"}, ["zei", "d", "'", "r", "man"]),
        ("no forms 's-Hertogenbosch", set(), ["no", "forms", "'", "s", "-", "Hertogenbosch"]),
    ],
)  # fmt: skip
def test_pieces_of_a_kept_form_join(text, forms, expected):
    from rnntag.io.text import form_groups

    (sentence,) = list(split_text(text))
    tokens = [t.text for t in sentence]
    offsets = [(t.start, t.end) for t in sentence]
    single = [range(i, i + 1) for i in range(len(tokens))]
    groups = form_groups(tokens, offsets, single, frozenset(forms))
    assert ["".join(tokens[k] for k in g) for g in groups] == expected


def _form_groups_by_definition(tokens, offsets, groups, forms):
    """`form_groups` as its docstring says it, trying every run at every group."""
    found, g = [], 0
    while g < len(groups):
        end = g + 1
        for h in range(min(len(groups), g + 8), g + 1, -1):
            run = range(groups[g].start, groups[h - 1].stop)
            touching = all(offsets[k][1] == offsets[k + 1][0] for k in run[:-1])
            if touching and "".join(tokens[k] for k in run) in forms:
                end = h
                break
        found.append(range(groups[g].start, groups[end - 1].stop))
        g = end
    return found


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(["a", "'", "s", "-", "b", "."]), st.booleans()),
        min_size=1,
        max_size=14,
    ),
    cuts=st.sets(st.integers(1, 13)),
    forms=st.sets(st.text(alphabet="as'-b.", min_size=2, max_size=5), max_size=12),
)
def test_form_groups_join_as_defined(pieces, cuts, forms):
    from rnntag.io.text import form_groups

    tokens, offsets, position = [], [], 0
    for token, space_after in pieces:
        tokens.append(token)
        offsets.append((position, position + len(token)))
        position += len(token) + space_after
    bounds = [0, *sorted(c for c in cuts if c < len(tokens)), len(tokens)]
    groups = [range(a, b) for a, b in itertools.pairwise(bounds)]
    forms = frozenset(forms | {"'s", "'s-b", "a.b"})

    expected = _form_groups_by_definition(tokens, offsets, groups, forms)
    assert form_groups(tokens, offsets, groups, forms) == expected
