"""The `rnntag` command: parse options, call the library, print the results."""

from __future__ import annotations

import codecs
import contextlib
import functools
import gc
import io
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rnntag.errors import RnntagError
from rnntag.model.config import ModelConfig, TrainConfig

# rich is imported where it is used: tagging prints nothing through it unless asked to or
# something goes wrong, and its import would add to every start-up.
if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="Sequence tagging (POS, named entities) with a BiLSTM-CRF.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@functools.cache
def _stderr() -> Console:
    """The console for messages on standard error, made on first use."""
    from rich.console import Console

    return Console(stderr=True)


def _stdout() -> Console:
    """A console for results on standard output."""
    from rich.console import Console

    return Console()


@contextmanager
def _long_lived() -> Iterator[None]:
    """Hold off garbage collection while objects that live as long as the process are made,
    then leave them out of later collections.

    Importing torch makes some 160,000 such objects, and the collector, running meanwhile,
    walks them all several times over for nothing: a tenth of a second of start-up or more.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()


Format = Annotated[
    str | None,
    typer.Option(
        "--format", help="conll or conllu; by default conllu for *.conllu files, conll otherwise."
    ),
]
TagColumn = Annotated[
    int, typer.Option(help="CoNLL tag column (0-based; negative counts from the end).")
]
TagField = Annotated[str, typer.Option(help="CoNLL-U tag field: upos, xpos or misc:KEY.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r}") from None
    return value


Encoding = Annotated[str, typer.Option(help="Encoding of the input files.", callback=_encoding)]


def _scheme(value: str | None) -> str | None:
    from rnntag.io.schemes import SCHEMES

    if value is not None and value not in SCHEMES:
        raise typer.BadParameter(f"must be one of {', '.join(SCHEMES)}")
    return value


MODEL_DEFAULTS = ModelConfig()
TRAIN_DEFAULTS = TrainConfig()


class StopOnSignal:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM asks training to stop after the
    current batch; a second one interrupts at once."""

    def __init__(self) -> None:
        self.stop = False
        self.previous: dict[int, Any] = {}

    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.stop

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        _stderr().print(
            "rnntag: stopping after this batch (again to stop at once)", highlight=False
        )

    def __enter__(self) -> StopOnSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _format(value: str | None, path: str) -> Any:
    from rnntag.io.corpus import guess_format

    if value is None:
        return guess_format(path)
    if value not in ("conll", "conllu"):
        raise typer.BadParameter("must be conll or conllu", param_hint="--format")
    return value


def _tag_field(value: str) -> str:
    from rnntag.io.corpus import parse_tag_field

    try:
        parse_tag_field(value)
    except RnntagError as exc:
        raise typer.BadParameter(exc.message, param_hint="--tag-field") from None
    return value


def _device(name: str) -> Any:
    from rnntag.model.runtime import resolve_device

    # A misspelt name is a usage error (exit 2); a missing CUDA device stays a user error.
    if name not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("must be auto, cpu or cuda", param_hint="--device")
    return resolve_device(name)


def _print_version(value: bool) -> None:
    if value:
        from rnntag.version import __version__

        print(f"rnntag {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Sequence tagging (POS, named entities) with a BiLSTM-CRF."""


@app.command()
def train(
    ctx: typer.Context,
    train_file: Annotated[str, typer.Argument(metavar="TRAIN", help="Tagged training file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    dev: Annotated[
        str | None, typer.Option(help="Tagged development file, for early stopping.")
    ] = None,
    fmt: Format = None,
    tag_column: TagColumn = -1,
    tag_field: TagField = "upos",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing model in --out.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the interrupted training in --out from its checkpoint."
        ),
    ] = False,
    device: Device = "auto",
    encoding: Encoding = "utf-8",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            help="TOML file with \\[model] and \\[train] tables; options given here override it.",
        ),
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            help="Span scheme of the data (IOB1, IOB2, IOBES); detected when not given.",
            callback=_scheme,
        ),
    ] = None,
    train_scheme: Annotated[
        str, typer.Option(help="Span scheme to train in; predictions use the data's.")
    ] = TRAIN_DEFAULTS.train_scheme,
    embeddings: Annotated[
        str | None,
        typer.Option(
            help="Pretrained vectors: GloVe or word2vec/fastText text (.gz too), or .bin."
        ),
    ] = TRAIN_DEFAULTS.embeddings,
    embeddings_max: Annotated[
        int, typer.Option(help="The vector file's most frequent words added to the vocabulary.")
    ] = TRAIN_DEFAULTS.embeddings_max,
    freeze_embeddings: Annotated[
        bool, typer.Option("--freeze-embeddings", help="Keep the pretrained vectors fixed.")
    ] = TRAIN_DEFAULTS.freeze_embeddings,
    word_dim: Annotated[
        int, typer.Option(help="Word embedding size (that of --embeddings when given).")
    ] = MODEL_DEFAULTS.word_dim,
    char_encoder: Annotated[
        str, typer.Option(help="cnn, lstm or none.")
    ] = MODEL_DEFAULTS.char_encoder,
    char_dim: Annotated[
        int, typer.Option(help="Character embedding size.")
    ] = MODEL_DEFAULTS.char_dim,
    char_hidden: Annotated[
        int, typer.Option(help="CNN filters, or char-BiLSTM size.")
    ] = MODEL_DEFAULTS.char_hidden,
    char_kernel: Annotated[
        int, typer.Option(help="Character CNN window, in characters.")
    ] = MODEL_DEFAULTS.char_kernel,
    max_word_chars: Annotated[
        int, typer.Option(help="Characters of a word the front end reads (its first and last).")
    ] = MODEL_DEFAULTS.max_word_chars,
    subword: Annotated[
        str, typer.Option(help="none, or bpe: byte-pair pieces of each word.")
    ] = MODEL_DEFAULTS.subword,
    bpe_vocab_size: Annotated[
        int, typer.Option(help="Byte-pair pieces learned from the training words.")
    ] = MODEL_DEFAULTS.bpe_vocab_size,
    bpe_dim: Annotated[
        int, typer.Option(help="Byte-pair piece embedding size.")
    ] = MODEL_DEFAULTS.bpe_dim,
    bpe_pool: Annotated[
        str, typer.Option(help="lstm or mean over a word's pieces.")
    ] = MODEL_DEFAULTS.bpe_pool,
    bpe_hidden: Annotated[
        int, typer.Option(help="Size of the BiLSTM over a word's pieces.")
    ] = MODEL_DEFAULTS.bpe_hidden,
    rnn: Annotated[str, typer.Option(help="lstm, gru or rnn (Elman).")] = MODEL_DEFAULTS.rnn,
    hidden_size: Annotated[
        int, typer.Option(help="RNN size per direction.")
    ] = MODEL_DEFAULTS.hidden_size,
    num_layers: Annotated[
        int, typer.Option(help="Stacked BiRNN layers.")
    ] = MODEL_DEFAULTS.num_layers,
    dropout: Annotated[
        float, typer.Option(help="Dropout on the word representations and between layers.")
    ] = MODEL_DEFAULTS.dropout,
    decoder: Annotated[str, typer.Option(help="crf or softmax.")] = MODEL_DEFAULTS.decoder,
    constrain: Annotated[
        bool, typer.Option(help="Forbid CRF transitions that break the span scheme.")
    ] = MODEL_DEFAULTS.constrain,
    normalize_digits: Annotated[
        bool, typer.Option(help="Look words up with every digit as 0.")
    ] = MODEL_DEFAULTS.normalize_digits,
    lowercase: Annotated[
        bool, typer.Option(help="Look words up lowercased.")
    ] = MODEL_DEFAULTS.lowercase,
    case_dim: Annotated[
        int, typer.Option(help="Size of a casing-pattern embedding; 0 for none.")
    ] = MODEL_DEFAULTS.case_dim,
    locked_dropout: Annotated[
        bool, typer.Option(help="Drop the same features at every position of a sentence.")
    ] = MODEL_DEFAULTS.locked_dropout,
    epochs: Annotated[
        int, typer.Option(help="Most passes over the training data.")
    ] = TRAIN_DEFAULTS.epochs,
    batch_size: Annotated[
        int, typer.Option(help="Sentences per training batch.")
    ] = TRAIN_DEFAULTS.batch_size,
    optimizer: Annotated[str, typer.Option(help="adam or sgd.")] = TRAIN_DEFAULTS.optimizer,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = TRAIN_DEFAULTS.lr,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = TRAIN_DEFAULTS.momentum,
    lr_decay: Annotated[
        float, typer.Option(help="Learning rate at epoch e is lr / (1 + lr_decay * e).")
    ] = TRAIN_DEFAULTS.lr_decay,
    weight_decay: Annotated[
        float, typer.Option(help="L2 penalty (makes the word table's update dense).")
    ] = TRAIN_DEFAULTS.weight_decay,
    clip: Annotated[
        float, typer.Option(help="Gradient norm cap; 0 disables.")
    ] = TRAIN_DEFAULTS.clip,
    patience: Annotated[
        int, typer.Option(help="Epochs without dev improvement before stopping.")
    ] = TRAIN_DEFAULTS.patience,
    unk_replace: Annotated[
        float, typer.Option(help="Probability of replacing a training singleton by <unk>.")
    ] = TRAIN_DEFAULTS.unk_replace,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed trains the same model on the CPU.")
    ] = TRAIN_DEFAULTS.seed,
    threads: Annotated[
        int, typer.Option(help="Torch threads; 0 = torch's default.")
    ] = TRAIN_DEFAULTS.threads,
) -> None:
    """Train a tagger on a CoNLL or CoNLL-U file and save the best model on --dev."""
    from rich.console import Console

    from rnntag.api import MODEL_SETTINGS, TRAIN_SETTINGS
    from rnntag.api import train as train_tagger
    from rnntag.model.config import CHOICES
    from rnntag.model.modelfile import CONFIG_FILE
    from rnntag.report import ProgressReporter
    from rnntag.training.loop import TrainingInterrupted

    given = locals()
    # Without --config every option counts; with it, only those given on the command line.
    settings = {
        name: given[name]
        for name in MODEL_SETTINGS | TRAIN_SETTINGS
        if config is None or getattr(ctx.get_parameter_source(name), "name", "") != "DEFAULT"
    }
    for name, allowed in CHOICES.items():
        if name in settings and settings[name] not in allowed:
            raise typer.BadParameter(
                f"must be one of {', '.join(allowed)}", param_hint=f"--{name.replace('_', '-')}"
            )
    _tag_field(tag_field)
    if (out / CONFIG_FILE).exists() and not force and not resume:
        raise typer.BadParameter(
            f"{out} already holds a model; choose another or pass --force", param_hint="--out"
        )
    _device(device)
    _format(fmt, train_file)
    # Under torchrun, rank 0 alone reports.
    console = _stderr() if os.environ.get("RANK", "0") == "0" else Console(stderr=True, quiet=True)
    reporter = ProgressReporter(console)
    try:
        with StopOnSignal() as stop:
            tagger = train_tagger(
                train_file,
                out,
                dev,
                config=config,
                fmt=fmt,
                tag_column=tag_column,
                tag_field=tag_field,
                scheme=scheme,
                device=device,
                encoding=encoding,
                resume=resume,
                force=force,
                observer=reporter,
                should_stop=stop.requested,
                **settings,
            )
    except TrainingInterrupted as exc:
        reporter.close()
        console.print(f"rnntag: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        reporter.close()
    results = tagger.info.results
    score = results.get("dev_score")
    best = (
        f"best dev {results['dev_metric']} {100 * score:.2f} at epoch {results['best_epoch']}; "
        if score is not None
        else ""
    )
    console.print(f"{best}model saved to {out}", highlight=False)


# What `tag` reads a file as when --input is not given.
_SUFFIX_FORMATS = {".conllu": "conllu", ".conll": "conll"}


@app.command()
def tag(
    files: Annotated[
        list[str] | None, typer.Argument(help="Input files; standard input when none.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model: ner, pos, or a model directory; repeat for several. Default: pos and ner.",
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input",
            "--format",
            help="text (plain text), tokens (a sentence per line, space-separated), conll, conllu;"
            " by default conllu for *.conllu files, conll for *.conll, text otherwise.",
        ),
    ] = None,
    output: Annotated[str, typer.Option(help="conll, conllu, jsonl, inline or pretty.")] = "conll",
    tag_field: Annotated[
        str, typer.Option(help="CoNLL-U field for the first model's tags; others go to MISC.")
    ] = "upos",
    output_scheme: Annotated[
        str | None,
        typer.Option(
            help="Span scheme of the output (IOB1, IOB2, IOBES); default: the data's.",
            callback=_scheme,
        ),
    ] = None,
    scores: Annotated[
        bool,
        typer.Option(
            "--scores",
            help="Add each tag's marginal probability (and, in jsonl, each entity's confidence).",
        ),
    ] = False,
    nbest: Annotated[
        int, typer.Option(help="With --output jsonl: the K best tag sequences and probabilities.")
    ] = 1,
    workers: Annotated[
        int, typer.Option(help="Tagging processes (each loads the models once); output order kept.")
    ] = 1,
    device: Device = "auto",
    encoding: Encoding = "utf-8",
) -> None:
    """Tag text from files or standard input and write it to standard output."""
    with _long_lived():
        from rnntag.io.corpus import STDIN, open_text, read_chunks, text_blocks
        from rnntag.tagging.output import FORMATS, Column
        from rnntag.tagging.tagger import Tagger
        from rnntag.tagging.workers import WorkerPool, tag_chunk

    if workers < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--workers")
    if input_format not in (None, "text", "tokens", "conll", "conllu"):
        raise typer.BadParameter("must be text, tokens, conll or conllu", param_hint="--input")
    if output not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--output")
    if nbest < 1 or (nbest > 1 and output != "jsonl"):
        raise typer.BadParameter("must be 1, or more with --output jsonl", param_hint="--nbest")
    _tag_field(tag_field)
    names = model or ["pos", "ner"]
    torch_device = _device(device)
    labels = [Path(m).name for m in names]
    with contextlib.ExitStack() as stack:
        if workers > 1:
            # The workers load the models; this process only reads and writes.
            pool = stack.enter_context(WorkerPool(names, output_scheme, workers))
            spans = pool.spans
        else:
            taggers = [Tagger.load(m, torch_device, output_scheme) for m in names]
            spans = [t.spans for t in taggers]
        for path in files or [STDIN]:
            fmt: Any = input_format or _SUFFIX_FORMATS.get(Path(path).suffix.lower(), "text")
            with open_text(path, encoding) as stream:
                if workers > 1:
                    # Plain text goes out raw, so that the workers tokenise it too.
                    pieces: Any = (
                        text_blocks(stream, path)
                        if fmt == "text"
                        else read_chunks(stream, path, fmt)
                    )
                    tagged = pool.tag(pieces, scores, nbest, stream.pending)
                else:
                    tagged = (
                        (c, tag_chunk(taggers, [s.tokens for s in c], scores, nbest))
                        for c in read_chunks(stream, path, fmt)
                    )
                for chunk, predicted in tagged:
                    columns = [
                        [
                            Column(name, p[i], s)
                            for name, p, s in zip(labels, predicted, spans, strict=True)
                        ]
                        for i in range(len(chunk))
                    ]
                    _write_chunk(chunk, columns, output, tag_field)


def _write_chunk(chunk: list[Any], columns: list[list[Any]], output: str, tag_field: str) -> None:
    """Write tagged sentences in one piece (standard output may be unbuffered), or show them
    on the terminal for `--output pretty`."""
    from rnntag.tagging.output import write

    if output == "pretty":
        from rich.console import Console

        from rnntag.report import print_tagged

        console = Console(highlight=False)
        for sentence, sentence_columns in zip(chunk, columns, strict=True):
            print_tagged(console, sentence, sentence_columns)
        return
    text = io.StringIO()
    for sentence, sentence_columns in zip(chunk, columns, strict=True):
        write(text, output, sentence, sentence_columns, tag_field)
    sys.stdout.write(text.getvalue())
    sys.stdout.flush()


@app.command("eval")
def evaluate(
    test_file: Annotated[
        str | None, typer.Argument(metavar="TEST", help="Gold file to tag with --model and score.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model: ner, pos or a model directory.")
    ] = None,
    gold: Annotated[str | None, typer.Option(help="Gold file, scored against --pred.")] = None,
    pred: Annotated[str | None, typer.Option(help="Predicted file, scored against --gold.")] = None,
    fmt: Format = None,
    tag_column: TagColumn = -1,
    tag_field: TagField = "upos",
    scheme: Annotated[
        str | None,
        typer.Option(
            help="Span scheme of the gold file (IOB1, IOB2, IOBES), in which predictions are"
            " scored; detected when not given.",
            callback=_scheme,
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option(help="Span scoring: conlleval (as papers report) or strict.")
    ] = "conlleval",
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            dir_okay=False,
            help="Also write a self-contained HTML report: scores, confusion heat map and the"
            " sentences with errors.",
        ),
    ] = None,
    errors: Annotated[
        int,
        typer.Option(
            "--errors", metavar="N", help="Also list the N most frequent errors, with examples."
        ),
    ] = 0,
    device: Device = "auto",
    encoding: Encoding = "utf-8",
) -> None:
    """Score a model on a gold file, or a predicted file against a gold file."""
    from rnntag.evaluation.metrics import evaluate as score
    from rnntag.io.corpus import load_corpus
    from rnntag.io.schemes import detect_scheme
    from rnntag.report import print_eval

    if mode not in ("conlleval", "strict"):
        raise typer.BadParameter("must be conlleval or strict", param_hint="--mode")
    if errors < 0 or (errors and as_json):
        raise typer.BadParameter("must be 0 or more, and without --json", param_hint="--errors")
    # Checked before tagging, which can take a while.
    if html is not None and not html.parent.is_dir():
        raise typer.BadParameter(f"folder {html.parent} does not exist", param_hint="--html")
    _tag_field(tag_field)
    if model is not None and test_file is not None and gold is None and pred is None:
        from rnntag.tagging.tagger import Tagger

        data = load_corpus(test_file, _format(fmt, test_file), tag_column, tag_field, encoding)
        tokens = [s.tokens for s in data]
        gold_tags = [s.tags or [] for s in data]
        # A span model's tags come out in the gold file's scheme, which the scores then use.
        tagger = Tagger.load(model, _device(device), scheme or detect_scheme(gold_tags))
        pred_tags = [p.tags for p in tagger.predict(tokens)]
        source, lines = f"{model} on {test_file}", [s.line for s in data]
        result = score(
            gold_tags,
            pred_tags,
            tagger.output_scheme,
            mode,  # type: ignore[arg-type]
            tokens,
            tagger.encoder.knows,
            tagger.labels,
        )
    elif gold is not None and pred is not None and model is None and test_file is None:
        gold_data = load_corpus(gold, _format(fmt, gold), tag_column, tag_field, encoding)
        pred_data = load_corpus(pred, _format(fmt, pred), tag_column, tag_field, encoding)
        _check_aligned(gold, gold_data, pred, pred_data)
        tokens = [s.tokens for s in gold_data]
        gold_tags = [s.tags or [] for s in gold_data]
        pred_tags = [s.tags or [] for s in pred_data]
        source, lines = f"{pred} against {gold}", [s.line for s in gold_data]
        # Both files are scored as written: rewriting the predictions would repair the very
        # spans that strict mode is there to refuse.
        result = score(gold_tags, pred_tags, scheme or detect_scheme(gold_tags), mode)  # type: ignore[arg-type]
    else:
        raise typer.BadParameter("give either -m MODEL TEST or --gold GOLD --pred PRED")
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_eval(_stdout(), result)
    if errors or html is not None:
        from rnntag.evaluation.analysis import analyze

        analysis = analyze(tokens, gold_tags, pred_tags, spans="spans" in result)
        if errors:
            from rnntag.report import print_errors

            print_errors(_stdout(), analysis.confusions, errors)
        if html is not None:
            from rnntag.evaluation.html import render_report, write_report

            write_report(html, render_report(result, analysis, source, lines))
            _stderr().print(f"report written to {html}", highlight=False, soft_wrap=True)


def _check_aligned(gold_path: str, gold: list, pred_path: str, pred: list) -> None:
    for g, p in zip(gold, pred, strict=False):
        if g.tokens != p.tokens:
            i = next(
                (i for i, (a, b) in enumerate(zip(g.tokens, p.tokens, strict=False)) if a != b),
                min(len(g.tokens), len(p.tokens)),
            )
            raise RnntagError(
                f"tokens do not line up with {gold_path} line {g.line}: sentence of"
                f" {len(p.tokens)} tokens against {len(g.tokens)},"
                f" first difference at token {i + 1}",
                pred_path,
                p.line,
            )
    if len(gold) != len(pred):
        raise RnntagError(f"{len(pred)} sentences, but {gold_path} has {len(gold)}", pred_path)


@app.command()
def bench(
    input_file: Annotated[str, typer.Argument(metavar="FILE", help="Input to tag.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model: ner, pos or a directory.")
    ] = "ner",
    input_format: Annotated[
        str, typer.Option("--input", help="text, tokens, conll or conllu.")
    ] = "text",
    tokenization: Annotated[
        bool,
        typer.Option(
            "--tokenization",
            help="Instead: score the plain-text tokeniser against FILE, a CoNLL-U gold file.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    device: Device = "auto",
    encoding: Encoding = "utf-8",
) -> None:
    """Measure tagging speed on a file: tokens/s, sentences/s, peak memory, time per stage."""
    from rnntag.report import print_bench
    from rnntag.tagging.bench import benchmark, tokenization_scores
    from rnntag.tagging.tagger import Tagger

    if tokenization:
        scores = tokenization_scores(input_file)
        if as_json:
            print(json.dumps(scores, indent=1))
        else:
            _stdout().print(
                f"tokenisation against {scores['gold']:,} gold words in {scores['sentences']:,}"
                f" sentences: precision {100 * scores['precision']:.2f},"
                f" recall {100 * scores['recall']:.2f}, F1 {100 * scores['f1']:.2f}",
                highlight=False,
            )
        return

    if input_format not in ("text", "tokens", "conll", "conllu"):
        raise typer.BadParameter("must be text, tokens, conll or conllu", param_hint="--input")
    tagger = Tagger.load(model, _device(device))
    result = benchmark(tagger, input_file, input_format, encoding)
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_bench(_stdout(), result)


@app.command()
def info(
    model_dir: Annotated[
        str, typer.Argument(metavar="MODEL", help="Model: ner, pos or a model directory.")
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the configuration as JSON (format 2's config.json, without vocabularies).",
        ),
    ] = False,
) -> None:
    """Show a model's configuration, labels, size, training scores and training curve."""
    from rnntag.model.modelfile import config_json, load_model, resolve_model
    from rnntag.report import print_info

    directory = resolve_model(model_dir)
    model_info, network = load_model(directory)
    if as_json:
        print(json.dumps(config_json(model_info), indent=1, ensure_ascii=False))
        return
    print_info(_stdout(), directory, model_info, sum(p.numel() for p in network.parameters()))


def _image(value: Path) -> Path:
    from rnntag.training.curves import FORMATS

    if value.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"the file name must end in {' or '.join(FORMATS)}")
    return value


@app.command()
def plot(
    model_dir: Annotated[
        str, typer.Argument(metavar="MODEL", help="Model: ner, pos or a model directory.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Image to write: .png or .svg.", callback=_image)
    ],
) -> None:
    """Draw a model's training curve (dev score and loss per epoch) as PNG or SVG; needs
    matplotlib, which the plot extra of rnntag installs."""
    from rnntag.model.modelfile import resolve_model
    from rnntag.training.curves import plot_curve, read_curve

    plot_curve(read_curve(resolve_model(model_dir)), out)
    _stderr().print(
        f"training curve written to {out}", highlight=False, markup=False, soft_wrap=True
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code.

    Exit codes: 0 success, 1 bad data or model, 2 bad usage.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args = ["--debug", *(a for a in args if a != "--debug")]
    try:
        app(args=args, prog_name="rnntag")
    except RnntagError as exc:
        if debug:
            raise
        _stderr().print(f"rnntag: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
