"""Speed benchmark: rnntag against a bare BiLSTM of the same size, in one run.

Machines are shared and noisy, so the subjects are timed in `--repeat` rounds, each timing
every subject once, back to back, and every figure is a median over the rounds; above all, a
ratio to the floor measured in the same round: a bare fp32 Embedding(100) -> BiLSTM(200 per
direction) -> Linear -> argmax over length-sorted batches of 128 sentences, on the same
sentences, encoded beforehand.

    python benchmarks/speed.py --conll ../shared/data/conll2003/eng.testa --copies 4 \\
        --conllu ../shared/data/ud-english-ewt/en_ewt-ud-dev.conllu --text-words 1000000

measures tagging (end to end in a subprocess with start-up subtracted, and the network
alone), start-up, and, with `--workers 2`, `--train` or `--memory-text-mb`, tagging with
worker processes, a training epoch, and peak memory. `--against MODEL` times another NER
model in every round right after `--ner`, and gives its ratio to `--ner` round by round as
well as to the floor. Not run by CI.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

RNNTAG = [sys.executable, "-m", "rnntag"]
# `rnntag tag` holds the garbage collector off while it imports torch, then freezes what that
# made, which also spares the collection at exit; this baseline does the same.
GC_FREE_TORCH = "import gc; gc.disable(); import torch; gc.freeze()"
# A few seconds of pure CPU work in one process, for what N processes at once can get here.
SPIN = "s = 0\nfor i in range(30_000_000): s += i"


def conll_sentences(path: str) -> list[list[str]]:
    """The tokens of each sentence of a CoNLL file (first column), `-DOCSTART-` skipped."""
    sentences, tokens = [], []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            word = line.split(maxsplit=1)[0] if line.strip() else ""
            if word and word != "-DOCSTART-":
                tokens.append(word)
            elif not word and tokens:
                sentences.append(tokens)
                tokens = []
    return sentences + ([tokens] if tokens else [])


def conllu_texts(path: str) -> list[str]:
    """The `# text = ` comment of each sentence of a CoNLL-U file."""
    prefix = "# text = "
    with open(path, encoding="utf-8") as stream:
        return [line[len(prefix) :].rstrip("\n") for line in stream if line.startswith(prefix)]


def floor_seconds(sentences: list[list[int]], vocab_size: int, num_tags: int) -> float:
    """One pass of the bare BiLSTM over length-sorted batches of 128 sentences."""
    embed, lstm = (
        nn.Embedding(vocab_size, 100),
        nn.LSTM(100, 200, batch_first=True, bidirectional=True),
    )
    linear = nn.Linear(400, num_tags)
    ordered = sorted(sentences, key=len)
    batches = []
    for start in range(0, len(ordered), 128):
        rows = ordered[start : start + 128]
        width = len(rows[-1])
        batches.append(torch.tensor([row + [0] * (width - len(row)) for row in rows]))
    with torch.inference_mode():
        start = time.perf_counter()
        for words in batches:
            linear(lstm(embed(words))[0]).argmax(dim=2)
        return time.perf_counter() - start


def network_seconds(model: str, sentences: list[list[str]]) -> float:
    """One pass of an rnntag model's BiLSTM, emission layer and Viterbi decoder, batched as
    `rnntag tag` batches them, over token features looked up beforehand (as `rnntag tag`
    looks them up in its cache of word forms)."""
    from rnntag.model.document_memory import batch_scores
    from rnntag.model.encode import token_batches
    from rnntag.tagging.predict import BATCH_TOKENS
    from rnntag.tagging.tagger import Tagger

    tagger = Tagger.load(model, torch.device("cpu"))
    memory = tagger.model.config.doc_memory == "on"
    with torch.inference_mode():
        batches = []
        for indices in token_batches([len(s) for s in sentences], BATCH_TOKENS):
            batch = [sentences[i] for i in indices]
            # A model with a document memory: each sentence a document, as for tokens input.
            groups = tagger.encoder.groups(batch, None) if memory else None
            batches.append((*tagger.cache.batch(batch), groups))
        start = time.perf_counter()
        for features, mask, padded, groups in batches:
            states = tagger.model.states(features, mask, padded)
            if groups is None:
                emissions = tagger.model.emissions(states)
            else:
                emissions = batch_scores(tagger.model.emissions, states, mask, groups)
            tagger.model.decode(emissions, mask).tolist()
        return time.perf_counter() - start


def run_command(
    args: list[str],
    stdin: str | None = None,
    stdout: str = os.devnull,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Wall-clock seconds and peak memory in MB of one command, output to `stdout`, with
    `env` added to the environment."""
    with open(stdout, "w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            text=True,
            env={**os.environ, **(env or {})},
        )
        if stdin is not None:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return seconds, usage.ru_maxrss / 1024


def startup(models: list[str], repeat: int) -> float:
    """Median of `repeat` runs of `echo "Hello world." | rnntag tag` with `models`."""
    flags = [flag for m in models for flag in ("-m", m)]
    return statistics.median(
        run_command([*RNNTAG, "tag", *flags], "Hello world.\n")[0] for _ in range(repeat)
    )


def python_seconds(code: str, repeat: int) -> float:
    """Median of `repeat` runs of `python -c CODE`."""
    return statistics.median(run_command([sys.executable, "-c", code])[0] for _ in range(repeat))


def tag_seconds(args: list[str], repeat: int, stdin: str) -> tuple[float, float]:
    """Best wall-clock seconds and peak MB of `repeat` runs of `rnntag tag ARGS`."""
    runs = [run_command([*RNNTAG, "tag", *args], stdin) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def parallel_ceiling(processes: int) -> float:
    """How many times the work of one process `processes` processes do in the same time here,
    each running the same CPU-bound loop at once: the most `--workers` can gain on this
    machine, whose cores may be shared with other machines."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", SPIN], check=True)
    alone = time.perf_counter() - started
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(processes)]
    for process in running:
        process.wait()
    return processes * alone / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conll", required=True, help="CoNLL file whose tokens are tagged")
    parser.add_argument("--copies", type=int, default=4, help="times the CoNLL file is repeated")
    parser.add_argument("--conllu", required=True, help="CoNLL-U file whose # text is tagged")
    parser.add_argument("--text-words", type=int, default=1_000_000, help="plain-text size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="also time tag --workers N")
    parser.add_argument("--memory-text-mb", type=int, default=0, help="also peak memory on N MB")
    parser.add_argument("--train", help="also time one epoch of `rnntag train` on this file")
    parser.add_argument("--dev", help="dev file for --train")
    parser.add_argument("--embeddings", help="vectors for --train")
    parser.add_argument(
        "--onnx", action="store_true", help="also time the NER model in onnxruntime"
    )
    parser.add_argument("--ner", default="ner", help="the NER model timed (a name or a directory)")
    parser.add_argument(
        "--against", help="another NER model, timed right after --ner in every round"
    )
    parser.add_argument("--pos", default="pos", help="the POS model beside --ner on plain text")
    parser.add_argument(
        "--against-pos",
        help="another POS model: plain text tagged with it and --ner, right after --pos in every"
        " round",
    )
    parser.add_argument("--json", help="also write the results to this file")
    options = parser.parse_args()
    results: dict[str, object] = {"threads": torch.get_num_threads()}
    work = Path(tempfile.mkdtemp(prefix="rnntag-bench-"))

    sentences = conll_sentences(options.conll) * options.copies
    tokens = sum(len(s) for s in sentences)
    tokens_file = work / "input.tokens"
    tokens_file.write_text("".join(" ".join(s) + "\n" for s in sentences), encoding="utf-8")
    texts = conllu_texts(options.conllu)
    words = sum(len(t.split()) for t in texts)
    copies = -(-options.text_words // words)
    text_file = work / "input.txt"
    text_file.write_text("".join(t + "\n\n" for t in texts) * copies, encoding="utf-8")

    from rnntag.tagging.tagger import Tagger

    ner = Tagger.load(options.ner, torch.device("cpu"))
    word_ids = [ner.encoder.word_ids(s) for s in sentences]
    conll_out = work / "out.conll"
    run_command([*RNNTAG, "tag", "--input", "text", str(text_file)], stdout=str(conll_out))
    with open(conll_out, encoding="utf-8") as stream:
        text_tokens = sum(1 for line in stream if line.strip())
    # Each NER model timed, by the prefix of its keys in a round.
    subjects = {"": options.ner, **({"against ": options.against} if options.against else {})}
    onnx_tagger = None
    if options.onnx:
        from rnntag.exporting.onnx import export_onnx
        from rnntag.exporting.runtime import OnnxTagger

        export_onnx(options.ner, work / "ner.onnx")
        onnx_tagger = OnnxTagger(work / "ner.onnx")
    # Every round times each subject once, back to back, so that a slow spell of this shared
    # machine slows the floor and rnntag alike; the ratios are taken within each round.
    rounds = []
    for _ in range(options.repeat):
        floor = floor_seconds(word_ids, len(ner.encoder.words), len(ner.labels))
        if onnx_tagger is not None:
            start = time.perf_counter()
            onnx_tagger.tag(sentences)
            onnx_speed = tokens / (time.perf_counter() - start)
        found = {
            **({"onnx": onnx_speed} if onnx_tagger is not None else {}),
            "floor": tokens / floor,
            "torch_start": python_seconds("import torch", 3),
            "gc_free_torch_start": python_seconds(GC_FREE_TORCH, 3),
        }
        for prefix, model in subjects.items():
            ner_start = startup([model], 3)
            both_start = startup([options.pos, model], 3)
            pretokenised = ["-m", model, "--input", "tokens", str(tokens_file)]
            plain = ["-m", options.pos, "-m", model, str(text_file)]
            found |= {
                f"{prefix}network": tokens / network_seconds(model, sentences),
                f"{prefix}pretokenised": tokens / (tag_seconds(pretokenised, 1, "")[0] - ner_start),
                f"{prefix}plain": text_tokens / (tag_seconds(plain, 1, "")[0] - both_start),
                f"{prefix}ner_start": ner_start,
                f"{prefix}both_start": both_start,
            }
        if options.against_pos:
            both_start = startup([options.against_pos, options.ner], 3)
            plain = ["-m", options.against_pos, "-m", options.ner, str(text_file)]
            found |= {
                "against-pos plain": text_tokens / (tag_seconds(plain, 1, "")[0] - both_start),
                "against-pos both_start": both_start,
            }
        rounds.append(found)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    names = {
        "floor": "floor: bare BiLSTM, batches of 128",
        "network": "rnntag ner network: BiLSTM, emissions, Viterbi",
        "pretokenised": "rnntag tag -m ner --input tokens (start-up subtracted)",
        "plain": f"rnntag tag ({options.pos} + ner) plain text (start-up subtracted)",
        "onnx": "onnxruntime: the exported ner model from tokens (OnnxTagger.tag)",
    }
    if options.against:
        names |= {f"against {k}": f"{v}, {options.against}" for k, v in list(names.items())[1:4]}
    if options.against_pos:
        names["against-pos plain"] = f"{names['plain']}, {options.against_pos} for pos"
    for key, name in names.items():
        if key not in rounds[0]:
            continue
        entry: dict[str, object] = {
            "tokens": text_tokens if key.endswith("plain") else tokens,
            "tokens_per_second": round(median(key)),
            "ratio_to_floor": round(statistics.median(r[key] / r["floor"] for r in rounds), 3),
            "ratios_by_round": [round(r[key] / r["floor"], 3) for r in rounds],
        }
        if key.startswith("against"):
            # The paired comparison: both models timed in the same round.
            by_round = [r[key] / r[key.split(" ", 1)[1]] for r in rounds]
            entry["ratio_to_--ner"] = round(statistics.median(by_round), 3)
            entry["ratio_to_--ner_by_round"] = [round(x, 3) for x in by_round]
        results[name] = entry
    results["start-up"] = {
        "python -c 'import torch'": round(median("torch_start"), 3),
        "the same with the garbage collector off": round(median("gc_free_torch_start"), 3),
        "echo 'Hello world.' | rnntag tag -m ner --input tokens": round(median("ner_start"), 3),
        "echo 'Hello world.' | rnntag tag": round(median("both_start"), 3),
        "rnntag tag over import torch": round(
            statistics.median(r["both_start"] - r["torch_start"] for r in rounds), 3
        ),
        "rnntag tag over import torch with the collector off": round(
            statistics.median(r["both_start"] - r["gc_free_torch_start"] for r in rounds), 3
        ),
    }
    if options.workers > 1:
        one_out, many_out = work / "one.conll", work / "many.conll"
        ceiling = parallel_ceiling(options.workers)
        tag_text = [*RNNTAG, "tag", "--workers"]
        one = run_command([*tag_text, "1", str(text_file)], stdout=str(one_out))[0]
        # One worker on one core, which is what each of N workers gets.
        one_core = run_command([*tag_text, "1", str(text_file)], env={"OMP_NUM_THREADS": "1"})[0]
        tag_many = [*tag_text, str(options.workers), str(text_file)]
        many = run_command(tag_many, stdout=str(many_out))[0]
        results[f"--workers {options.workers} on plain text"] = {
            "speed-up over --workers 1": round(one / many, 2),
            "speed-up over --workers 1 on one thread": round(one_core / many, 2),
            f"{options.workers} CPU-bound processes against one, just before": round(ceiling, 2),
            "seconds: --workers 1, the same on one thread, --workers N": [
                round(one, 2),
                round(one_core, 2),
                round(many, 2),
            ],
            "identical output": one_out.read_bytes() == many_out.read_bytes(),
        }
    if options.memory_text_mb:
        big = work / "big.txt"
        block = text_file.read_bytes()
        with open(big, "wb") as out:
            for _ in range(-(-options.memory_text_mb * 2**20 // len(block))):
                out.write(block)
        seconds, peak = run_command([*RNNTAG, "tag", str(big)])
        results[f"rnntag tag (pos + ner) on {big.stat().st_size / 2**20:.0f} MB of text"] = {
            "seconds": round(seconds, 1),
            "peak_memory_mb": round(peak),
        }
    if options.train:
        out = work / "model"
        args = [*RNNTAG, "train", options.train, "--out", str(out), "--epochs", "1"]
        args += ["--dev", options.dev] if options.dev else []
        args += ["--embeddings", options.embeddings] if options.embeddings else []
        seconds, peak = run_command(args)
        epoch = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
        results["rnntag train, one epoch"] = {
            "epoch_seconds_with_dev": round(epoch["seconds"], 1),
            "train_tokens_per_second": round(epoch["tokens_per_second"]),
            "dev_score": epoch["dev_score"],
            "command_seconds": round(seconds, 1),
            "peak_memory_mb": round(peak),
        }
    print(json.dumps(results, indent=1))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
