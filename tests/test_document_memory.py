"""The document memory: groups of a name's occurrences in a document, batches of whole
documents, the pooled states against a brute-force mean, the numpy twin against torch, and
documents as read."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATA, TINY_TRAINING, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_model import SENTENCES, TAGS, make_model

from rnntag.evaluation.scoring import score
from rnntag.io.conll import read_conll, read_conllu
from rnntag.io.plaintext import read_text
from rnntag.model.document_memory import (
    DocumentMemory,
    NumpyDocumentMemory,
    TokenGroups,
    batch_scores,
    memory_weights,
    others_mean,
    shared_tokens,
    state_scores,
)
from rnntag.model.documents import document_batches, document_groups
from rnntag.model.encode import EncodedSentences
from rnntag.tagging import workers
from rnntag.tagging.predict import predict
from rnntag.tagging.tagger import Tagger

# SENTENCES again, with names that recur: 0 and 1 are one document, 2 and 3 another.
DOCUMENTS = [10, 10, 20, 20]
RECURRING = [
    ["Ada", "Lovelace", "met", "ADA", "."],
    ["ada", "Ada", "Hopper"],
    ["Hopper", "and", "Ada", "."],
    ["Oslo", "Ada"],
]


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        # "ADA" and the second "Ada" join the first; lower-case tokens stay alone.
        ([1, 1], [0, 1, 2, 0, 4, 5, 0, 7]),
        # In another document, the second "Ada" starts a group of its own.
        ([1, 2], [0, 1, 2, 0, 4, 5, 6, 7]),
        # Without documents, each sentence is one.
        (None, [0, 1, 2, 0, 4, 5, 6, 7]),
        ([None, None], [0, 1, 2, 0, 4, 5, 6, 7]),
    ],
)
def test_document_groups(documents, expected):
    sentences = [["Ada", "Lovelace", "met", "ADA", "."], ["ada", "Ada", "Hopper"]]
    assert document_groups(sentences, documents) == expected


words = st.sampled_from(["Ada", "ADA", "ada", "Oslo", "the", ".", "Hopper"])


@given(
    st.lists(
        st.tuples(st.lists(words, min_size=1, max_size=5), st.one_of(st.none(), st.integers(0, 2))),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=60, deadline=None)
def test_tokens_share_a_group_exactly_when_a_capitalised_form_recurs_in_a_document(read):
    sentences = [tokens for tokens, _ in read]
    documents = [document for _, document in read]
    groups = document_groups(sentences, documents)
    where = [
        (i, token, documents[i] if documents[i] is not None else ("alone", i))
        for i, tokens in enumerate(sentences)
        for token in tokens
    ]
    for a, (_, first, doc_a) in enumerate(where):
        for b, (_, second, doc_b) in enumerate(where):
            capitalised = first.lower() != first and second.lower() != second
            shared = a == b or (capitalised and doc_a == doc_b and first.lower() == second.lower())
            assert (groups[a] == groups[b]) == shared


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=1, max_size=40),
    st.integers(1, 6),
    st.booleans(),
)
@settings(max_examples=100, deadline=None)
def test_document_batches_hold_whole_documents(documents, batch_size, shuffle):
    batches = list(document_batches(documents, batch_size, random.Random(1) if shuffle else None))
    assert sorted(i for b in batches for i in b) == list(range(len(documents)))
    if not shuffle:
        assert [i for b in batches for i in b] == list(range(len(documents)))
    where = {i: n for n, b in enumerate(batches) for i in b}
    for i in range(1, len(documents)):
        if documents[i] is not None and documents[i] == documents[i - 1]:
            # A document is cut only where a piece of it fills a whole batch.
            assert where[i] == where[i - 1] or len(batches[where[i - 1]]) == batch_size
    for b in batches:
        assert len(b) <= batch_size


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_memory_is_the_mean_state_of_the_other_tokens_of_the_group(seed):
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(9, 5, generator=generator)
    groups = torch.randint(0, 6, (9,), generator=generator)

    shared = shared_tokens(groups, torch.ones(9, dtype=torch.bool)).nonzero().squeeze(1)
    mean = others_mean(states[shared], groups[shared])

    expected = {}
    for i in range(9):
        others = [states[j] for j in range(9) if j != i and groups[j] == groups[i]]
        if others:
            expected[i] = torch.stack(others).mean(0)
    assert shared.tolist() == sorted(expected)
    for row, i in enumerate(shared.tolist()):
        assert torch.allclose(mean[row], expected[i], atol=1e-6)


@pytest.mark.parametrize(("seed", "merge"), [(0, "concat"), (1, "concat"), (2, "sum")])
def test_memory_scores_are_the_output_layer_over_states_and_memory_joined(seed, merge):
    # The definition: each real token's state, its memory and the flag, joined; the memory
    # is the mean state of the other real tokens of its group, memory and flag 0 for none.
    generator = torch.Generator().manual_seed(seed)
    model, _ = make_model("cnn", "crf", doc_memory=True, merge=merge)
    size = model.rnn.output_size
    mask = torch.arange(4) < torch.tensor([4, 2, 3])[:, None]
    states = torch.randn(3, 4, size, generator=generator)
    groups = torch.randint(0, 5, (3, 4), generator=generator)
    real = mask.nonzero().tolist()
    joined = torch.zeros(3, 4, 2 * size + 1)
    for b, t in real:
        others = [
            states[c, u] for c, u in real if (c, u) != (b, t) and groups[c, u] == groups[b, t]
        ]
        memory = [torch.stack(others).mean(0), torch.ones(1)] if others else [torch.zeros(size + 1)]
        joined[b, t] = torch.cat([states[b, t], *memory])

    with torch.no_grad():
        got = batch_scores(model.emissions, states, mask, groups)
        expected = model.emissions(joined)

    assert shared_tokens(groups, mask).any()
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_numpy_twin_scores_as_the_torch_memory_over_several_batches(seed):
    # The ONNX runtime's phase 1 and 2 against the network's, on the same batches of one
    # input: the only place the two implementations meet.
    generator, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    model, _ = make_model("cnn", "crf", doc_memory=True)
    forms = ["Ada", "ada", "Oslo", "Hopper", "the"]
    sentences = [[rng.choice(forms) for _ in range(rng.randint(1, 5))] for _ in range(9)]
    groups = TokenGroups(sentences, [rng.choice([None, 1, 2]) for _ in sentences])
    weights = (w.detach().numpy() for w in memory_weights(model.emissions))
    torch_memory, numpy_memory = DocumentMemory(model.emissions), NumpyDocumentMemory(*weights)
    kept = 0
    with torch.no_grad():
        for indices in ([4, 0, 7], [1, 2], [3, 5, 6, 8]):
            numbers, keep = groups.batch(indices)
            states = torch.randn(*keep.shape, model.rnn.output_size, generator=generator)
            torch_memory.add(states, torch.from_numpy(keep), torch.from_numpy(numbers))
            scores = state_scores(model.emissions, states).numpy()
            numpy_memory.add(scores, states.numpy(), keep, numbers)
            kept += int(keep.sum())
        expected = torch_memory.scores()

    assert kept > 0
    for got, wanted in zip(numpy_memory.scores(), expected, strict=True):
        np.testing.assert_allclose(got, wanted.numpy(), rtol=1e-5, atol=1e-5)


def test_memory_gradient_reaches_the_other_tokens_of_the_group_only():
    states = torch.randn(6, 4, requires_grad=True)
    groups = torch.tensor([0, 1, 2, 0, 4, 5])
    shared = shared_tokens(groups, torch.ones(6, dtype=torch.bool)).nonzero().squeeze(1)
    assert shared.tolist() == [0, 3]
    mean = others_mean(states[shared], groups[shared])
    mean[0].sum().backward()
    assert states.grad is not None
    reached = states.grad.abs().sum(1) > 0
    assert reached.tolist() == [False, False, False, True, False, False]


@pytest.mark.parametrize("merge", ["concat", "sum", "product"])
def test_a_batch_of_documents_equals_each_document_alone(merge):
    model, encoder = make_model("cnn", "crf", doc_memory=True, merge=merge)
    with torch.no_grad():
        model.emissions.weight.mul_(20)
        together = model(encoder.batch(RECURRING, documents=DOCUMENTS))
        for first in (0, 2):
            alone = model(encoder.batch(RECURRING[first : first + 2], documents=[1, 1]))
            for row in range(2):
                n = len(RECURRING[first + row])
                assert torch.allclose(alone[row, :n], together[first + row, :n], atol=1e-5)
        # The memory changes the scores of a name that recurs.
        apart = model(encoder.batch(RECURRING))
        assert not torch.allclose(apart[0, 0], together[0, 0], atol=1e-4)


def test_loss_backward_reaches_every_parameter_with_a_memory():
    model, encoder = make_model("cnn", "crf", doc_memory=True)
    model.train()
    model.loss(encoder.batch(SENTENCES, TAGS, [1, 1, 1, 1])).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_encoded_sentences_group_tokens_as_the_encoder_does():
    _, encoder = make_model("cnn", "crf", doc_memory=True)
    tags = [["O"] * len(s) for s in RECURRING]
    encoded = EncodedSentences(encoder, RECURRING, tags, DOCUMENTS)
    for indices in [[0, 1, 2, 3], [2, 3], [1, 0]]:
        chosen = [RECURRING[i] for i in indices]
        expected = encoder.batch(chosen, documents=[DOCUMENTS[i] for i in indices]).groups
        actual = encoded.batch(indices).groups
        assert expected is not None and actual is not None
        mask = encoded.batch(indices).mask
        # The same partition of the tokens, whatever the numbers.
        pairs = set(zip(expected[mask].tolist(), actual[mask].tolist(), strict=True))
        assert len(pairs) == len(set(expected[mask].tolist())) == len(set(actual[mask].tolist()))


def test_documents_as_read():
    conll = "-DOCSTART- O\n\nAda B-PER\n\nAda B-PER\n\n-DOCSTART- O\n\nOslo B-LOC\n"
    assert [s.document for s in read_conll(io.StringIO(conll), "x")] == [1, 1, 7]
    assert [s.document for s in read_conll(io.StringIO("Ada B-PER\n"), "x")] == [None]
    conllu = (
        "# newdoc id = a\n1\tAda\t_\tPROPN\t_\t_\t_\t_\t_\t_\n\n"
        "1\tAda\t_\tPROPN\t_\t_\t_\t_\t_\t_\n\n"
        "# newdoc id = b\n1\tOslo\t_\tPROPN\t_\t_\t_\t_\t_\t_\n\n"
    )
    assert [s.document for s in read_conllu(io.StringIO(conllu), "x")] == [1, 1, 6]
    # Plain text is one document, paragraphs and all (see test_documents.py).
    text = "Ada came. Ada left.\n\nOslo is cold.\n"
    assert [s.document for s in read_text(io.StringIO(text), "x")] == [1, 1, 1]


@pytest.fixture(scope="module")
def document_model(tmp_path_factory) -> Path:
    """A tiny NER model with a document memory, trained on the samples."""
    out = tmp_path_factory.mktemp("memory") / "ner"
    train, dev = DATA / "ner-train.conll", DATA / "ner-dev.conll"
    options = [*TINY_TRAINING, "--epochs", "4"]
    assert run("train", train, "--dev", dev, "-o", out, "--doc-memory", *options) == 0
    return out


def test_every_tagging_path_gives_a_document_model_its_documents(document_model, monkeypatch):
    path = DATA / "ner-dev.conll"
    with path.open(encoding="utf-8") as stream:
        sentences = list(read_conll(stream, str(path)))
    tokens = [s.tokens for s in sentences]
    tagger = Tagger.load(str(document_model))
    expected = tagger.predict(tokens, True, documents=[s.document for s in sentences])
    # The sample is one document, whose names recur: without it the scores differ.
    assert [p.scores for p in tagger.predict(tokens, True)] != [p.scores for p in expected]

    assert tagger.predict_read(sentences, True) == expected
    monkeypatch.setattr(workers, "_worker_taggers", [tagger])
    _, predicted = workers._work(([(s.tokens, s.document) for s in sentences], True, 1))
    assert predicted == [expected]
    scored = score(str(path), model=str(document_model))
    assert scored.pred == [p.tags for p in expected]


@given(
    st.lists(
        st.tuples(st.lists(words, min_size=1, max_size=6), st.one_of(st.none(), st.integers(0, 2))),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([4, 16, 2048]),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_tagging_in_any_batches_equals_each_document_as_one_batch(document_model, read, max_tokens):
    tokens = [t for t, _ in read]
    documents = [d for _, d in read]
    tagger = Tagger.load(str(document_model))
    model, encoder = tagger.model, tagger.encoder
    got = predict(model, encoder, tokens, scores=True, max_tokens=max_tokens, documents=documents)
    # Each document's sentences in one batch, and a sentence without one alone.
    batches = [[i] for i, d in enumerate(documents) if d is None]
    batches += [[i for i, d in enumerate(documents) if d == k] for k in set(documents) - {None}]
    with torch.no_grad():
        for rows in batches:
            batch = encoder.batch([tokens[i] for i in rows], documents=[documents[i] for i in rows])
            path = model.path_scores(model(batch), batch.mask)
            for row, i in enumerate(rows):
                expected = path.token_log_p[row, : len(tokens[i])].exp()
                assert torch.allclose(torch.tensor(got[i].scores), expected.float(), atol=1e-5)
