"""Write a CoNLL file with each `-DOCSTART-` document of another as one long sentence (its
sentences joined, tags in IOB2 so that entities of adjacent sentences stay apart), to train
and score on whole documents as sequences with truncated backpropagation through time.

    python benchmarks/documents_as_sequences.py ../shared/data/conll2003/eng.train train.docs.conll
    python benchmarks/documents_as_sequences.py ../shared/data/conll2003/eng.testa dev.docs.conll
    rnntag train train.docs.conll --dev dev.docs.conll --embeddings glove.6B.50d.txt.gz \\
        --ema 0.999 --batch-size 2 --seed 1 --threads 1 --out docseq

Not run by CI.
"""

from __future__ import annotations

import argparse

from rnntag.io.formats import load_corpus
from rnntag.io.schemes import convert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="CoNLL file with -DOCSTART- documents")
    parser.add_argument("target", help="CoNLL file to write, a document per sentence")
    args = parser.parse_args()
    documents: dict[int | None, list[tuple[str, str]]] = {}
    for sentence in load_corpus(args.source):
        rows = documents.setdefault(sentence.document, [])
        rows += zip(sentence.tokens, convert(sentence.tags or [], "IOB2"), strict=True)
    with open(args.target, "w", encoding="utf-8") as out:
        for rows in documents.values():
            out.write("".join(f"{token}\t{tag}\n" for token, tag in rows) + "\n")
    longest = max(len(rows) for rows in documents.values())
    print(f"{len(documents)} documents, the longest {longest} tokens")


if __name__ == "__main__":
    main()
