"""Training steps of a document-memory network on batches of whole documents, with the BiRNN
run in one call over each batch and in pieces of similar length (`in_length_pieces`),
alternated over rounds in one process so that both see the same machine.

    python benchmarks/length_pieces.py ../shared/data/conll2003/eng.train
    python benchmarks/length_pieces.py ../shared/data/ud-english-ewt/en_ewt-ud-train.conllu \
        --hidden-size 300 --num-layers 2 --char-encoder lstm --char-hidden 100

prints the padded share of the batches and, per round, both times and the speed-up. Not run
by CI.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from rnntag.io.formats import load_corpus
from rnntag.model import birnn
from rnntag.model.config import ModelConfig
from rnntag.model.documents import document_batches
from rnntag.model.encode import EncodedSentences, Encoder, build_vocabularies
from rnntag.model.network import SequenceTagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", help="a tagged CoNLL or CoNLL-U file with documents")
    parser.add_argument("--batches", type=int, default=30, help="training steps per timing")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden-size", type=int, default=200)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--char-encoder", default="cnn")
    parser.add_argument("--char-hidden", type=int, default=50)
    options = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_corpus(options.train)
    tokens, tags = [s.tokens for s in data], [s.tags or [] for s in data]
    documents = [s.document for s in data]
    config = ModelConfig(
        word_dim=50, hidden_size=options.hidden_size, num_layers=options.num_layers,
        char_encoder=options.char_encoder, char_hidden=options.char_hidden, doc_memory="on",
    )  # fmt: skip
    vocab = build_vocabularies(tokens, tags, config)
    model = SequenceTagger(config, len(vocab.words), len(vocab.chars), 0, len(vocab.labels))
    model.train()
    optimizer = torch.optim.Adam(model.parameters())
    encoded = EncodedSentences(Encoder(vocab, config), tokens, tags, documents)
    batches = list(document_batches(documents, 32, random.Random(1)))[: options.batches]
    real = sum(len(tokens[i]) for b in batches for i in b)
    area = sum(len(b) * max(len(tokens[i]) for i in b) for b in batches)
    print(f"padding: {1 - real / area:.0%} of the batches' area", flush=True)

    def seconds() -> float:
        start = time.perf_counter()
        for indices in batches:
            loss = model.loss(encoded.batch(indices))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    seconds()  # warm-up
    saving = birnn.PIECE_SAVING
    for number in range(options.rounds):
        birnn.PIECE_SAVING = 2.0  # no cut ever saves that much: one call per batch
        whole = seconds()
        birnn.PIECE_SAVING = saving
        pieces = seconds()
        print(
            f"round {number}: one call {whole:.1f} s, pieces {pieces:.1f} s,"
            f" speed-up {whole / pieces:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
