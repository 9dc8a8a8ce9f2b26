"""The network: the padded BiRNN against torch's packed reference, padding invariance, encoding."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnntag.model.birnn import BiRNN, SequenceDropout, in_length_pieces
from rnntag.model.config import ModelConfig
from rnntag.model.encode import (
    EncodedSentences,
    Encoder,
    build_vocabularies,
    length_batches,
    token_batches,
)
from rnntag.model.network import SequenceTagger
from rnntag.model.subword import learn_bpe
from rnntag.model.vocab import CASINGS, casing, clip_word

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
SENTENCES = [
    ["Ada", "Lovelace", "was", "born", "in", "London", "."],
    ["Hi"],
    ["Grace", "Hopper", "works", "for", "Globex", "."],
    ["Rain", "in", "Oslo", "and", "São", "Paulo", "tomorrow", "!"],
]
TAGS = [
    ["B-PER", "I-PER", "O", "O", "O", "B-LOC", "O"],
    ["O"],
    ["B-PER", "I-PER", "O", "O", "B-ORG", "O"],
    ["O", "O", "B-LOC", "O", "B-LOC", "I-LOC", "O", "O"],
]


MERGES = {
    "concat": lambda ahead, back: torch.cat([ahead, back], dim=-1),
    "sum": torch.add,
    "product": torch.mul,
}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("merge", sorted(MERGES))
def test_birnn_matches_packed_reference(cell, num_layers, merge, generator):
    birnn = BiRNN(CELLS[cell], 5, 4, num_layers, dropout=0.0, merge=merge)
    reference = CELLS[cell](5, 4, num_layers, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, param in reference.named_parameters():
            # Reference names look like weight_ih_l1 or weight_ih_l1_reverse.
            kind, layer = name.removesuffix("_reverse").rsplit("_l", 1)
            layers = birnn.backward_layers if name.endswith("_reverse") else birnn.forward_layers
            getattr(layers[int(layer)], f"{kind}_l0").copy_(param)
    lengths = torch.tensor([3, 6, 1, 4])
    inputs = torch.randn(4, 6, 5, generator=generator)
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(reference(packed)[0], batch_first=True)
    expected = MERGES[merge](expected[..., :4], expected[..., 4:])
    actual = birnn(inputs, mask)
    assert actual.shape == (4, 6, birnn.output_size)
    assert birnn.output_size == expected.size(-1)
    assert torch.allclose(actual[mask], expected[mask], atol=1e-6)


def make_model(
    char_encoder: str,
    decoder: str,
    rnn: str = "lstm",
    subword: str = "none",
    pool: str = "lstm",
    case_dim: int = 0,
    doc_memory: bool = False,
    merge: str = "concat",
) -> tuple[SequenceTagger, Encoder]:
    config = ModelConfig(
        word_dim=8, char_encoder=char_encoder, char_dim=6, char_hidden=8, rnn=rnn,
        hidden_size=8, num_layers=2, decoder=decoder, subword=subword, bpe_pool=pool,
        bpe_dim=6, bpe_hidden=8, bpe_vocab_size=40, case_dim=case_dim, lowercase=case_dim > 0,
        locked_dropout=case_dim > 0, doc_memory="on" if doc_memory else "off", merge=merge,
    )  # fmt: skip
    vocab = build_vocabularies(SENTENCES[:3], TAGS[:3], config)
    vocab.labels = sorted({t for tags in TAGS for t in tags})
    pieces = 0
    if subword == "bpe":
        vocab.bpe = learn_bpe((t for s in SENTENCES[:3] for t in s), config.bpe_vocab_size)
        pieces = len(vocab.bpe["model"]["vocab"])
    model = SequenceTagger(config, len(vocab.words), len(vocab.chars), pieces, len(vocab.labels))
    return model.eval(), Encoder(vocab, config)


@pytest.mark.parametrize(
    ("char_encoder", "subword", "pool"),
    [("cnn", "none", ""), ("lstm", "none", ""), ("none", "bpe", "lstm"), ("cnn", "bpe", "mean")],
)
@pytest.mark.parametrize("case_dim", [0, 4])
@pytest.mark.parametrize("decoder", ["crf", "softmax"])
@pytest.mark.parametrize("rnn", ["lstm", "gru", "rnn"])
def test_sentence_tagged_alone_equals_in_batch(char_encoder, subword, pool, case_dim, decoder, rnn):
    model, encoder = make_model(char_encoder, decoder, rnn, subword, pool or "lstm", case_dim)
    with torch.no_grad():
        # Larger emissions so that the decoded tags are not all the same.
        model.emissions.weight.mul_(20)
        batch = encoder.batch(SENTENCES)
        scores = model(batch)
        together = model.decode(scores, batch.mask)
        for b, sentence in enumerate(SENTENCES):
            alone = encoder.batch([sentence])
            alone_scores = model(alone)
            best = model.decode(alone_scores, alone.mask)[0].tolist()
            assert best == together[b, : len(sentence)].tolist()
            assert torch.allclose(alone_scores[0], scores[b, : len(sentence)], atol=1e-5)
    assert len({t for row in together.tolist() for t in row}) > 1


@pytest.mark.parametrize(
    ("decoder", "pool", "merge"),
    [("crf", "lstm", "concat"), ("softmax", "mean", "sum"), ("crf", "mean", "product")],
)
def test_loss_backward_reaches_every_parameter(decoder, pool, merge):
    model, encoder = make_model("cnn", decoder, subword="bpe", pool=pool, case_dim=3, merge=merge)
    model.train()
    model.loss(encoder.batch(SENTENCES, TAGS)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_unknown_words_and_characters_are_encoded_as_unknown():
    _, encoder = make_model("cnn", "crf")
    batch = encoder.batch([["Ada", "Zyzzyva", "ada", "1999"]])
    words = batch.words[0].tolist()
    assert words[0] > 1
    assert words[1] == 1
    # Only the lowercase form of an unknown word is tried, never the capitalised one.
    assert words[2] == 1
    assert batch.chars.shape[0] == 4
    assert (batch.chars[batch.unique_index[0, 1]] == 1).any()


@pytest.mark.parametrize(("subword", "case_dim"), [("none", 0), ("bpe", 3)])
def test_encoded_sentences_cut_the_batches_the_encoder_makes(subword, case_dim):
    _, encoder = make_model("cnn", "crf", subword=subword, pool="mean", case_dim=case_dim)
    sentences = [*SENTENCES, ["Ada", "Ada", "in", "Zyzzyva"]]
    tags = [*TAGS, ["B-PER", "B-PER", "O", "O"]]
    encoded = EncodedSentences(encoder, sentences, tags)
    for indices in [[0, 1, 2, 3, 4], [3, 1], [1], [4, 0]]:
        chosen = [sentences[i] for i in indices]
        expected = encoder.batch(chosen, [tags[i] for i in indices])
        actual = encoded.batch(indices)
        for field in ["words", "mask", "tags"]:
            assert torch.equal(getattr(actual, field), getattr(expected, field)), field
        if expected.casing is None:
            assert actual.casing is None
        else:
            assert actual.casing is not None and torch.equal(actual.casing, expected.casing)
        mask = expected.mask
        # Rows may come in another order, but each token finds the same characters and pieces,
        # with no more padding than the batch needs.
        for symbols in ["chars", "pieces"]:
            want, got = getattr(expected, symbols), getattr(actual, symbols)
            if want is None:
                assert got is None
                continue
            assert got.shape == want.shape
            assert torch.equal(got[actual.unique_index[mask]], want[expected.unique_index[mask]]), (
                symbols
            )
        assert actual.chars.size(0) == len({t for s in chosen for t in s})


def test_digits_are_normalised_for_lookup():
    _, encoder = make_model("cnn", "crf")
    assert encoder.word_ids(["2024"]) == encoder.word_ids(["1999"])


@pytest.mark.parametrize(
    ("word", "limit", "expected"),
    [("short", 10, "short"), ("abcdefghij", 4, "abij"), ("abcdefghij", 5, "abcij")],
)
def test_clip_word_keeps_both_ends(word, limit, expected):
    assert clip_word(word, limit) == expected


@pytest.mark.parametrize("shuffle", [False, True])
def test_length_batches_cover_every_sentence_once(shuffle):
    source = random.Random(7)
    lengths = [source.randint(1, 40) for _ in range(103)]
    batches = list(length_batches(lengths, 8, random.Random(3) if shuffle else None))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(103))
    assert all(len(batch) <= 8 for batch in batches)
    if not shuffle:
        assert [lengths[i] for batch in batches for i in batch] == sorted(lengths)


@pytest.mark.parametrize(
    ("word", "pattern"),
    [("the", "lower"), ("NATO", "upper"), ("London", "title"), ("iPhone", "mixed"),
     ("1999", "number"), ("3-1", "has digit"), ("B2B", "has digit"), (".", "other"),
     ("--", "other")],
)  # fmt: skip
def test_casing(word, pattern):
    assert CASINGS[casing(word)] == pattern


@pytest.mark.parametrize("locked", [False, True])
def test_sequence_dropout(locked, generator):
    dropout = SequenceDropout(0.5, locked)
    inputs = torch.ones(3, 7, 20)
    dropped = dropout(inputs)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    # A locked mask is the same at every position of a sentence; a free one is not.
    same_everywhere = bool((dropped == dropped[:, :1]).all())
    assert same_everywhere == locked
    assert torch.equal(dropout.eval()(inputs), inputs)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("merge", sorted(MERGES))
def test_birnn_without_padding_equals_the_padded_path(cell, merge, generator):
    birnn = BiRNN(CELLS[cell], 5, 4, 2, dropout=0.0, merge=merge)
    inputs = torch.randn(3, 6, 5, generator=generator)
    mask = torch.ones(3, 6, dtype=torch.bool)
    # The same arithmetic in another kernel: equal up to rounding (bit for bit on some CPUs;
    # on others the fused tanh RNN differs in the last bit).
    torch.testing.assert_close(
        birnn(inputs, mask, padded=False), birnn(inputs, mask, padded=True), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize(
    ("lengths", "padded"), [([3, 3, 3], False), ([1], False), ([3, 1, 3], True)]
)
def test_batches_of_one_length_are_not_padded(lengths, padded):
    _, encoder = make_model("cnn", "crf")
    batch = encoder.batch([SENTENCES[0][:n] for n in lengths])
    assert batch.padded is padded
    assert batch.mask.sum(dim=1).tolist() == lengths


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), max_size=60), st.integers(1, 200))
def test_token_batches_cover_every_sentence_once_within_the_budget(lengths, max_tokens):
    batches = list(token_batches(lengths, max_tokens))
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    widths = [max(lengths[i] for i in batch) for batch in batches]
    assert widths == sorted(widths)
    for batch, width in zip(batches, widths, strict=True):
        assert len(batch) == 1 or len(batch) * width <= max_tokens


@pytest.mark.parametrize(
    ("char_encoder", "subword", "pool"),
    [
        ("cnn", "none", "lstm"),
        ("lstm", "none", "lstm"),
        ("cnn", "bpe", "lstm"),
        ("none", "bpe", "mean"),
    ],
)
def test_tokens_without_characters_give_finite_scores_and_gradients(char_encoder, subword, pool):
    # An empty CoNLL field or CoNLL-U FORM reaches the network as a token with no characters.
    model, encoder = make_model(char_encoder, "crf", subword=subword, pool=pool)
    sentences = [["Paris", "", "nice"], [""], ["", ""]]
    tags = [["B-LOC", "O", "O"], ["O"], ["O", "O"]]
    assert torch.isfinite(model(encoder.batch(sentences))).all()
    model.train()
    loss = model.loss(encoder.batch(sentences, tags))
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in model.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad.to_dense()).all(), name


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(
    "lengths",
    [[9, 1, 3, 12, 2, 2, 7, 1, 1, 5], [4, 4, 4, 4, 4], [12, 1, 1, 1, 1, 1, 1, 1, 1]],
)
def test_states_in_length_pieces_equal_one_call_with_their_gradients(cell, lengths, generator):
    birnn = BiRNN(CELLS[cell], 5, 4, 2, dropout=0.0, merge="sum")
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    inputs = torch.randn(*mask.shape, 5, generator=generator, requires_grad=True)
    weights = torch.randn(*mask.shape, 4, generator=generator)

    def states_and_gradient(function):
        inputs.grad = None
        states = function()
        (states * weights)[mask].sum().backward()
        return states[mask], inputs.grad[mask]

    whole = states_and_gradient(lambda: birnn(inputs, mask))
    cut = states_and_gradient(lambda: in_length_pieces(birnn, inputs, mask, size=3))
    for expected, actual in zip(whole, cut, strict=True):
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
