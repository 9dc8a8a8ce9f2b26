"""Error analysis, checked on sentences small enough to count by hand, and against seqeval."""

from __future__ import annotations

import itertools
import random

import pytest

from rnntag.errors import RnntagError
from rnntag.evaluation.analysis import Mark, analyze, confusions, context, error_sentences
from rnntag.evaluation.confusion import (
    MAX_MATRIX_LABELS,
    OTHERS,
    match_spans,
    span_confusion_matrix,
    tag_confusion_matrix,
)
from rnntag.evaluation.metrics import span_report

TOKENS = [
    ["Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "."],
    ["The", "Bank", "of", "England", "said", "so", "on", "Monday"],
    ["Hewlett", "and", "Packard", "merged"],
    ["Paris", "is", "big"],
]
GOLD = [
    ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"],
    ["O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O"],
    ["B-PER", "O", "B-PER", "O"],
    ["B-LOC", "O", "O"],
]
# Sentence by sentence: Ada right, Charles Babbage typed ORG, London missed; "Bank of England"
# cut to "England" and typed LOC, "Monday" spurious; two PER joined into one ORG; Paris right,
# written in IOB1 (the same span, so no error).
PRED = [
    ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O", "O"],
    ["O", "O", "O", "B-LOC", "O", "O", "O", "B-MISC"],
    ["B-ORG", "I-ORG", "I-ORG", "O"],
    ["I-LOC", "O", "O"],
]


def test_match_spans_sorts_every_span_into_one_outcome():
    gold = [("ORG", 1, 4), ("PER", 5, 6), ("LOC", 7, 8), ("PER", 9, 10)]
    pred = [("LOC", 3, 4), ("PER", 5, 6), ("MISC", 8, 9), ("PER", 9, 10)]

    match = match_spans(gold, pred)

    assert match.matched == [(("PER", 5, 6), ("PER", 5, 6)), (("PER", 9, 10), ("PER", 9, 10))]
    assert match.gold_boundary == [(("ORG", 1, 4), [("LOC", 3, 4)])]
    assert match.pred_boundary == [(("LOC", 3, 4), [("ORG", 1, 4)])]
    assert match.missed == [("LOC", 7, 8)]
    assert match.spurious == [("MISC", 8, 9)]


def test_adjacent_spans_do_not_overlap():
    match = match_spans([("PER", 0, 2)], [("PER", 2, 3)])
    assert match.missed == [("PER", 0, 2)]
    assert match.spurious == [("PER", 2, 3)]
    assert match.gold_boundary == match.pred_boundary == []


def test_span_confusion_matrix_counts():
    matrix = span_confusion_matrix(GOLD, PRED)

    assert matrix.labels == ["LOC", "MISC", "ORG", "PER"]
    assert matrix.rows == ["LOC", "MISC", "ORG", "PER", "spurious", "boundary"]
    assert matrix.columns == ["LOC", "MISC", "ORG", "PER", "missed", "boundary"]
    assert matrix.counts == [
        # LOC MISC ORG PER missed boundary
        [1, 0, 0, 0, 1, 0],  # gold LOC: Paris right, London missed
        [0, 0, 0, 0, 0, 0],  # gold MISC: none
        [0, 0, 0, 0, 0, 1],  # gold ORG: Bank of England, wrong boundaries
        [0, 0, 1, 1, 0, 2],  # gold PER: Ada right, Charles Babbage as ORG, Hewlett, Packard
        [0, 1, 0, 0, 0, 0],  # spurious: Monday as MISC
        [1, 0, 1, 0, 0, 0],  # boundary: England as LOC, "Hewlett and Packard" as ORG
    ]
    assert matrix.count("PER", "ORG") == 1
    assert matrix.count("boundary", "LOC") == 1


def test_span_matrix_rows_add_up_to_gold_spans_and_columns_to_predicted_spans(rng):
    lengths = [rng.randint(1, 12) for _ in range(300)]
    gold, pred = random_iob2(rng, lengths), random_iob2(rng, lengths)
    matrix = span_confusion_matrix(gold, pred)
    n = len(matrix.labels)
    report = span_report(gold, pred, "IOB2")

    for i, label in enumerate(matrix.labels):
        row = sum(matrix.counts[i])
        column = sum(matrix.counts[r][i] for r in range(len(matrix.rows)))
        scores = report.types.get(label)
        support = scores.support if scores else 0
        assert row == support
        # seqeval's true positives per type are the matrix's diagonal.
        true_positives = round(scores.recall * support) if scores else 0
        assert matrix.counts[i][i] == true_positives
        if column:
            assert scores.precision == pytest.approx(matrix.counts[i][i] / column)
    # Where an extra row meets an extra column nothing can be counted.
    assert all(matrix.counts[r][c] == 0 for r in range(n, n + 2) for c in range(n, n + 2))


def random_iob2(rng: random.Random, lengths: list[int]) -> list[list[str]]:
    """Random well-formed IOB2 sequences over three types, with many adjacent spans."""
    result = []
    for length in lengths:
        tags: list[str] = []
        for _ in range(length):
            previous = tags[-1] if tags else "O"
            choice = rng.random()
            if previous != "O" and choice < 0.35:
                tags.append("I-" + previous[2:])
            elif choice < 0.7:
                tags.append("O")
            else:
                tags.append("B-" + rng.choice("ABC"))
        result.append(tags)
    return result


def test_span_confusions_are_counted_and_sorted():
    found = confusions(TOKENS, GOLD, PRED, spans=True)

    assert [(c.label, c.count) for c in found] == [
        ("boundary PER → ORG", 2),
        ("PER → ORG", 1),
        ("boundary ORG → LOC", 1),
        ("missed LOC", 1),
        ("spurious MISC", 1),
    ]
    assert [c.kind for c in found] == ["boundary", "type", "boundary", "missed", "spurious"]


def test_confusion_examples_show_context_and_what_went_wrong():
    found = {c.label: c for c in confusions(TOKENS, GOLD, PRED, spans=True, width=2)}

    (boundary,) = found["boundary ORG → LOC"].examples
    # The gold span and the prediction overlapping it are highlighted together.
    assert (boundary.sentence, boundary.start, boundary.end) == (1, 1, 4)
    assert (boundary.left, boundary.focus, boundary.right) == (
        "The",
        "Bank of England",
        "said so …",
    )
    assert boundary.note == 'gold ORG "Bank of England", predicted LOC "England"'
    (missed,) = found["missed LOC"].examples
    assert (missed.left, missed.focus, missed.right) == ("… Babbage in", "London", ".")
    assert missed.note == 'gold LOC "London", nothing predicted'
    assert found["spurious MISC"].examples[0].note == 'predicted MISC "Monday", no gold'
    assert found["PER → ORG"].examples[0].note == 'gold PER "Charles Babbage", predicted ORG'
    joined = found["boundary PER → ORG"]
    assert [(x.start, x.end) for x in joined.examples] == [(0, 3), (0, 3)]


def test_examples_are_capped_at_the_first_occurrences():
    tokens = [["a", "b"]] * 5
    gold = [["B-PER", "O"]] * 5
    pred = [["O", "O"]] * 5

    (missed,) = confusions(tokens, gold, pred, spans=True, examples=2)

    assert missed.count == 5
    assert [x.sentence for x in missed.examples] == [0, 1]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 1, ("", "w0", "w1 w2 …")),
        (3, 5, ("… w1 w2", "w3 w4", "w5")),
        (0, 6, ("", "w0 w1 w2 w3 w4 w5", "")),
    ],
)
def test_context_cuts_with_an_ellipsis(start, end, expected):
    words = [f"w{i}" for i in range(6)]
    assert context(words, start, end, width=2) == expected


def test_error_sentences_mark_right_and_wrong_spans():
    found = error_sentences(TOKENS, GOLD, PRED, spans=True)

    # The last sentence differs only in how IOB1 writes the same span: no error.
    assert [s.index for s in found] == [0, 1, 2]
    first = found[0]
    assert first.tokens == TOKENS[0]
    assert first.gold == [
        Mark("PER", 0, 2, True),
        Mark("PER", 3, 5, False),
        Mark("LOC", 6, 7, False),
    ]
    assert first.pred == [Mark("PER", 0, 2, True), Mark("ORG", 3, 5, False)]
    assert found[2].pred == [Mark("ORG", 0, 3, False)]


POS_TOKENS = [["I", "saw", "Apple", "stores"], ["Apple", "rocks"], ["Yes"]]
POS_GOLD = [["PRON", "VERB", "PROPN", "NOUN"], ["PROPN", "VERB"], ["INTJ"]]
POS_PRED = [["PRON", "VERB", "NOUN", "NOUN"], ["NOUN", "NOUN"], ["INTJ"]]


def test_tag_confusions_count_tokens():
    found = confusions(POS_TOKENS, POS_GOLD, POS_PRED, spans=False)

    assert [(c.label, c.count, c.kind) for c in found] == [
        ("PROPN → NOUN", 2, "tag"),
        ("VERB → NOUN", 1, "tag"),
    ]
    first = found[0].examples[0]
    assert (first.sentence, first.start, first.end) == (0, 2, 3)
    assert (first.left, first.focus, first.right) == ("I saw", "Apple", "stores")
    assert first.note == '"Apple": gold PROPN, predicted NOUN'


def test_tag_confusion_matrix_counts():
    matrix = tag_confusion_matrix(POS_GOLD, POS_PRED)

    assert matrix.labels == ["INTJ", "NOUN", "PRON", "PROPN", "VERB"]
    assert matrix.extra_rows == matrix.extra_columns == []
    assert matrix.counts == [
        # INTJ NOUN PRON PROPN VERB
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 2, 0, 0, 0],
        [0, 1, 0, 0, 1],
    ]


def test_analyze_plain_tags():
    analysis = analyze(POS_TOKENS, POS_GOLD, POS_PRED, spans=False)

    assert not analysis.spans
    assert analysis.sentences == 3
    assert [s.index for s in analysis.error_sentences] == [0, 1]
    second = analysis.error_sentences[1]
    assert second.gold == [Mark("PROPN", 0, 1, False), Mark("VERB", 1, 2, False)]
    assert second.pred == [Mark("NOUN", 0, 1, False), Mark("NOUN", 1, 2, False)]
    assert analysis.matrix.count("PROPN", "NOUN") == 2


def test_analyze_spans_agrees_with_its_parts():
    analysis = analyze(TOKENS, GOLD, PRED, spans=True)

    assert analysis.spans
    assert analysis.matrix == span_confusion_matrix(GOLD, PRED)
    assert analysis.confusions == confusions(TOKENS, GOLD, PRED, spans=True)
    assert len(analysis.error_sentences) == 3


@pytest.mark.parametrize(
    ("tokens", "gold", "pred", "message"),
    [
        ([["a"]], [["O"]], [["O"], ["O"]], "1 gold sentences, 2 predicted, 1 with words"),
        ([["a", "b"]], [["O", "O"]], [["O"]], "sentence 1: 2 gold tags, 1 predicted, 2 words"),
        ([["a"]], [["O", "O"]], [["O", "O"]], "sentence 1: 2 gold tags, 2 predicted, 1 words"),
    ],
)
def test_misaligned_input_is_refused(tokens, gold, pred, message):
    with pytest.raises(RnntagError, match=message):
        confusions(tokens, gold, pred, spans=True)
    with pytest.raises(RnntagError, match=message):
        error_sentences(tokens, gold, pred, spans=False)


@pytest.mark.parametrize("spans", [False, True], ids=["tags", "spans"])
def test_a_matrix_of_thousands_of_labels_keeps_the_commonest_and_counts_the_rest_together(
    rng, spans
):
    # Label k is used about 1 / (k + 1) as often as label 0, so the commonest are known.
    names = [f"L{k}" for k in range(2000)]
    # Cumulative, so that each draw does not add up 2000 weights again.
    cumulative = list(itertools.accumulate(1 / (k + 1) for k in range(2000)))

    def draw() -> str:
        label = rng.choices(names, cum_weights=cumulative)[0]
        return f"B-{label}" if spans else label

    gold = [[draw() for _ in range(10)] for _ in range(2000)]
    pred = [[g if rng.random() < 0.7 else draw() for g in sentence] for sentence in gold]
    build = span_confusion_matrix if spans else tag_confusion_matrix
    full_labels = {t.removeprefix("B-") for sentence in gold + pred for t in sentence}

    matrix = build(gold, pred)

    assert len(full_labels) > MAX_MATRIX_LABELS
    assert len(matrix.labels) == MAX_MATRIX_LABELS and matrix.labels[-1] == OTHERS
    assert {"L0", "L1", "L2", "L3"} <= set(matrix.labels)
    # Nothing is lost: every token (or span) is still counted once, in its row and column.
    total = sum(len(sentence) for sentence in gold)
    assert sum(map(sum, matrix.counts[: len(matrix.labels)])) == total
    assert sum(row[i] for row in matrix.counts for i in range(len(matrix.labels))) == total
