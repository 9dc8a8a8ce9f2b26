"""Plain-text sentence splitting and tokenisation into UD English conventions."""

from __future__ import annotations

import pytest
from hypothesis import given
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
        ("", []),
        ("   \n\n  ", []),
    ],
)  # fmt: skip
def test_tokenisation_follows_ud_english(text, expected):
    assert tokens(text) == expected


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
