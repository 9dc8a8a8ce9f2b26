"""Tag scheme detection."""

from __future__ import annotations

import pytest

from rnntag.schemes import detect_scheme, is_span_tag


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        ([["I-PER", "I-PER", "O", "I-LOC"]], "IOB1"),
        ([["I-ORG", "B-ORG", "O"]], "IOB1"),
        ([["B-PER", "I-PER", "O", "B-LOC"]], "IOB2"),
        ([["B-PER", "B-PER", "O"], ["O"]], "IOB2"),
        # An I- after a span of another type starts a span: only IOB1 allows that.
        ([["B-PER", "I-LOC"]], "IOB1"),
        ([["S-PER", "O", "B-LOC", "E-LOC"]], "IOBES"),
        ([["U-PER", "O", "B-LOC", "L-LOC"]], "IOBES"),
        ([["O", "O"]], None),
        ([["NOUN", "VERB"]], None),
        ([["B-PER", "NOUN"]], None),
        ([["PRP$", "O"]], None),
    ],
)
def test_detect_scheme(sentences, expected):
    assert detect_scheme(sentences) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("O", True), ("B-PER", True), ("I-MISC", True), ("B-", False), ("X-PER", False), ("NOUN", False)],
)
def test_is_span_tag(tag, expected):
    assert is_span_tag(tag) == expected
