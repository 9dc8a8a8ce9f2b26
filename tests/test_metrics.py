"""Scores, checked on cases small enough to count by hand."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnntag.errors import RnntagError
from rnntag.evaluation.metrics import (
    Accuracy,
    Scores,
    dev_score,
    evaluate,
    span_report,
    tag_report,
    token_accuracy,
)

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
# PER right, LOC missed, ORG typed wrongly as LOC: 1 correct of 3 predicted and 3 gold spans.
PRED = [["B-PER", "I-PER", "O", "O"], ["O", "B-LOC"]]


def test_token_accuracy():
    assert token_accuracy(GOLD, PRED) == pytest.approx(4 / 6)


def test_span_report_counts_spans():
    report = span_report(GOLD, PRED, "IOB2")
    assert report.mode == "conlleval"
    assert report.micro.precision == pytest.approx(1 / 2)
    assert report.micro.recall == pytest.approx(1 / 3)
    assert report.types["PER"].f1 == pytest.approx(1.0)
    assert report.types["ORG"].support == 1


@pytest.mark.parametrize(("mode", "expected_f1"), [("conlleval", 1.0), ("strict", 0.0)])
def test_strict_mode_refuses_ill_formed_spans(mode, expected_f1):
    # A span starting with I- counts in conlleval mode but not in strict IOB2 mode.
    gold = [["B-PER", "I-PER", "O"]]
    pred = [["I-PER", "I-PER", "O"]]
    report = span_report(gold, pred, "IOB2", mode)
    assert report.micro.f1 == pytest.approx(expected_f1)


def test_strict_mode_needs_a_scheme():
    with pytest.raises(RnntagError, match="scheme"):
        span_report(GOLD, PRED, None, "strict")


def test_tag_report():
    report = tag_report([["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]])
    assert report["NOUN"] == Scores(pytest.approx(2 / 3), 1.0, pytest.approx(0.8), 2)
    assert report["VERB"].recall == 0.0


def test_evaluate_plain_tags_splits_seen_and_unseen():
    tokens = [["the", "zyzzyva", "sings"]]
    result = evaluate(
        [["DET", "NOUN", "VERB"]],
        [["DET", "VERB", "VERB"]],
        None,
        tokens=tokens,
        known=lambda w: w != "zyzzyva",
        labels=["DET", "VERB", "NOUN"],
    )
    assert result.seen_unseen == {"seen": Accuracy(1.0, 2), "unseen": Accuracy(0.0, 1)}
    assert result.headline() == ("accuracy", pytest.approx(2 / 3))
    assert result.unknown_gold_labels == []


def test_evaluate_lists_gold_labels_the_model_never_saw():
    result = evaluate(GOLD, PRED, "IOB2", labels=["O", "B-PER", "I-PER", "B-LOC"])
    assert result.unknown_gold_labels == ["B-ORG"]
    assert result.headline() == ("span F1", pytest.approx(0.4))


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


# seqeval's report averages over no span at all with a warning.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(TAGS), st.sampled_from(TAGS)), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["IOB1", "IOB2", None]),
)
def test_dev_score_is_the_headline_of_the_whole_report(pairs, scheme):
    # Ill-formed sequences and sentences without any span too.
    gold = [[g for g, _ in sentence] for sentence in pairs]
    pred = [[p for _, p in sentence] for sentence in pairs]
    assert dev_score(gold, pred, scheme) == evaluate(gold, pred, scheme).headline()


@pytest.mark.parametrize("scheme", ["IOB2", None])
def test_json_of_an_evaluation_names_each_score_once(scheme):
    gold = GOLD if scheme else [["DET", "NOUN"], ["VERB"]]
    pred = PRED if scheme else [["DET", "VERB"], ["VERB"]]
    record = evaluate(gold, pred, scheme, labels=["O"]).to_json()
    part = record["spans"]["types"] if scheme else record["tags"]
    keys = {tuple(scores) for scores in part.values()}
    assert keys == {("precision", "recall", "f1", "support")}
    assert all(isinstance(scores["support"], int) for scores in part.values())
    assert ("spans" in record) == (scheme is not None) != ("tags" in record)


def test_the_report_leaves_out_a_split_without_tokens():
    from rich.console import Console

    from rnntag.console.tables import print_eval

    console = Console(file=io.StringIO(), width=100)
    result = evaluate([["DET", "NOUN"]], [["DET", "VERB"]], None, tokens=[["the", "cat"]],
                      known=lambda word: True)  # fmt: skip
    print_eval(console, result)
    out = console.file.getvalue()
    assert "seen words: accuracy 50.00 on 2 tokens" in out
    assert "unseen" not in out
