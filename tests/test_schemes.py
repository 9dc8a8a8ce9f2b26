"""Tag schemes: detection, conversion, allowed transitions and the constrained CRF."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnntag.io.schemes import (
    SCHEMES,
    allowed_transitions,
    conversion_table,
    convert,
    detect_scheme,
    from_spans,
    is_span_tag,
    is_transition_allowed,
    is_well_formed,
    to_spans,
)
from rnntag.model.crf import CRF


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        ([["I-PER", "I-PER", "O", "I-LOC"]], "IOB1"),
        ([["I-ORG", "B-ORG", "O"]], "IOB1"),
        ([["B-PER", "I-PER", "O", "B-LOC"]], "IOB2"),
        ([["B-PER", "B-PER", "O"], ["O"]], "IOB2"),
        # An I- after a span of another type starts a span: only IOB1 allows that.
        ([["B-PER", "I-LOC"]], "IOB1"),
        # IOB2 with a stray I- start, as CoNLL-2002 Spanish has one among 18,751 spans.
        ([["B-PER", "I-PER", "O"], ["O", "I-LOC"], ["B-ORG"], ["B-LOC", "O"]], "IOB2"),
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
    [
        ("O", True),
        ("B-PER", True),
        ("I-MISC", True),
        ("B-", False),
        ("X-PER", False),
        ("NOUN", False),
    ],
)
def test_is_span_tag(tag, expected):
    assert is_span_tag(tag) == expected


LABELS = ["PER", "LOC", "ORG"]


@st.composite
def span_sets(draw) -> tuple[list[tuple[str, int, int]], int]:
    """Random non-overlapping spans over a sentence of random length."""
    length = draw(st.integers(1, 12))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=length + 1)) | {0, length})
    spans = []
    for start, end in itertools.pairwise(cuts):
        if end > start and draw(st.booleans()):
            spans.append((draw(st.sampled_from(LABELS)), start, end))
    return spans, length


@given(span_sets(), st.sampled_from(SCHEMES))
def test_spans_survive_writing_in_any_scheme(case, scheme):
    spans, length = case
    tags = from_spans(spans, length, scheme)
    assert to_spans(tags) == spans
    assert is_well_formed(tags, scheme)
    assert detect_scheme([tags]) == (scheme if spans else None)


@given(span_sets(), st.sampled_from(SCHEMES), st.sampled_from(SCHEMES))
def test_conversion_round_trips_exactly(case, source, target):
    spans, length = case
    tags = from_spans(spans, length, source)
    assert convert(convert(tags, target), source) == tags


ANY_TAGS = ["O", *(f"{p}-{label}" for p in "BIES" for label in LABELS[:2])]


@given(st.lists(st.sampled_from(ANY_TAGS), min_size=1, max_size=10), st.sampled_from(SCHEMES))
def test_conversion_table_converts_any_sequence_as_convert_does(tags, scheme):
    # Ill-formed sequences too: the table must agree with the lenient reading everywhere.
    targets, table = conversion_table(ANY_TAGS, scheme)
    index = [ANY_TAGS.index(t) for t in tags]
    edge = len(ANY_TAGS)
    around = [edge, *index, edge]
    looked_up = [targets[table[around[i]][index[i]][around[i + 2]]] for i in range(len(tags))]
    assert looked_up == convert(tags, scheme)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # Adjacent spans of one type: IOB1 needs B- for the second.
        (["I-PER", "B-PER", "O"], [("PER", 0, 1), ("PER", 1, 2)]),
        # conlleval reads an I- after O, or after another type, as a span start.
        (["O", "I-LOC", "I-ORG"], [("LOC", 1, 2), ("ORG", 2, 3)]),
        (
            ["B-PER", "E-PER", "S-LOC", "U-ORG", "B-LOC", "L-LOC"],
            [("PER", 0, 2), ("LOC", 2, 3), ("ORG", 3, 4), ("LOC", 4, 6)],
        ),
        (["E-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    ],
)
def test_to_spans(tags, expected):
    assert to_spans(tags) == expected


# Every allowed move over two entity types, written out by hand (as AllenNLP's tests list
# them): from each tag or START, the tags or END that may follow. START to END is left out.
ALLOWED = {
    "IOB1": {
        "START": "O I-PER I-LOC",
        "O": "O I-PER I-LOC END",
        "B-PER": "O B-PER I-PER I-LOC END",
        "I-PER": "O B-PER I-PER I-LOC END",
        "B-LOC": "O I-PER B-LOC I-LOC END",
        "I-LOC": "O I-PER B-LOC I-LOC END",
    },
    "IOB2": {
        "START": "O B-PER B-LOC",
        "O": "O B-PER B-LOC END",
        "B-PER": "O B-PER I-PER B-LOC END",
        "I-PER": "O B-PER I-PER B-LOC END",
        "B-LOC": "O B-PER B-LOC I-LOC END",
        "I-LOC": "O B-PER B-LOC I-LOC END",
    },
    "IOBES": {
        "START": "O B-PER S-PER B-LOC S-LOC",
        "O": "O B-PER S-PER B-LOC S-LOC END",
        "B-PER": "I-PER E-PER",
        "I-PER": "I-PER E-PER",
        "E-PER": "O B-PER S-PER B-LOC S-LOC END",
        "S-PER": "O B-PER S-PER B-LOC S-LOC END",
        "B-LOC": "I-LOC E-LOC",
        "I-LOC": "I-LOC E-LOC",
        "E-LOC": "O B-PER S-PER B-LOC S-LOC END",
        "S-LOC": "O B-PER S-PER B-LOC S-LOC END",
    },
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_allowed_transitions_are_exactly_the_table(scheme):
    tags = [tag for tag in ALLOWED[scheme] if tag != "START"]
    expected = {(a, b) for a, following in ALLOWED[scheme].items() for b in following.split()}
    found = {
        (a, b)
        for a in ["START", *tags]
        for b in [*tags, "END"]
        if (a, b) != ("START", "END") and is_transition_allowed(scheme, a, b)
    }
    assert found == expected
    # The CRF's masks say the same, in the order of its labels.
    start, moves, end = allowed_transitions(scheme, tags)
    assert {("START", b) for b, ok in zip(tags, start, strict=True) if ok} == {
        (a, b) for a, b in expected if a == "START"
    }
    assert {(a, "END") for a, ok in zip(tags, end, strict=True) if ok} == {
        (a, b) for a, b in expected if b == "END"
    }
    assert {
        (a, b)
        for a, row in zip(tags, moves, strict=True)
        for b, ok in zip(tags, row, strict=True)
        if ok
    } == {(a, b) for a, b in expected if a != "START" and b != "END"}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_constrained_crf_decodes_only_well_formed_sequences(scheme, generator):
    labels = ["O"] + [f"{p}-{t}" for t in LABELS for p in ("BIES" if scheme == "IOBES" else "BI")]
    crf = CRF(len(labels), tuple(torch.tensor(a) for a in allowed_transitions(scheme, labels)))
    lengths = torch.randint(1, 15, (200,), generator=generator)
    mask = torch.arange(15).unsqueeze(0) < lengths.unsqueeze(1)
    # Large random emissions would make an unconstrained decoder produce invalid sequences.
    emissions = 5 * torch.randn(200, 15, len(labels), generator=generator)
    _, paths = crf.decode(emissions, mask)
    for path, length in zip(paths.tolist(), lengths.tolist(), strict=True):
        assert is_well_formed([labels[t] for t in path[:length]], scheme)
