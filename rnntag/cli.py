"""The `rnntag` command: parse options, call the library, print the results."""

from __future__ import annotations

import codecs
import dataclasses
import functools
import gc
import inspect
import json
import os
import signal
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rnntag.errors import RnntagError, UsageError
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


def _with_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` an option for every field of `ModelConfig` and `TrainConfig`, with the
    help declared beside it (see `rnntag.model.config.setting`), passed as keywords."""
    signature = inspect.signature(command, eval_str=True)
    options = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for cls in (ModelConfig, TrainConfig):
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            option = typer.Option(help=item.metadata["help"])
            kind, default = inspect.Parameter.KEYWORD_ONLY, item.default
            annotation = Annotated[hints[item.name], option]  # type: ignore[name-defined,valid-type]
            options.append(
                inspect.Parameter(item.name, kind, default=default, annotation=annotation)
            )
    command.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    return command


@app.command()
@_with_settings
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
    **settings: Any,
) -> None:
    """Train a tagger on a CoNLL or CoNLL-U file and save the best model on --dev."""
    from rich.console import Console

    from rnntag.api import train as train_tagger
    from rnntag.model.config import CHOICES
    from rnntag.model.modelfile import CONFIG_FILE
    from rnntag.report import ProgressReporter, print_trained
    from rnntag.training.loop import TrainingInterrupted
    from rnntag.training.signals import StopOnSignal

    # Without --config every option counts; with it, only those given on the command line.
    settings = {
        name: value
        for name, value in settings.items()
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
        stopping = "rnntag: stopping after this batch (again to stop at once)"
        with StopOnSignal(lambda: console.print(stopping, highlight=False)) as stop:
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
    print_trained(console, tagger.info.results, out)


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
        from rnntag.io.corpus import STDIN
        from rnntag.tagging.output import FORMATS
        from rnntag.tagging.run import Tagging

    if workers < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--workers")
    if input_format not in (None, "text", "tokens", "conll", "conllu"):
        raise typer.BadParameter("must be text, tokens, conll or conllu", param_hint="--input")
    if output not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--output")
    if nbest < 1 or (nbest > 1 and output != "jsonl"):
        raise typer.BadParameter("must be 1, or more with --output jsonl", param_hint="--nbest")
    _tag_field(tag_field)
    fmt: Any = input_format
    try:
        with Tagging(model or ["pos", "ner"], output_scheme, _device(device), workers) as tagging:
            for path in files or [STDIN]:
                for chunk, columns in tagging.tag_file(path, fmt, encoding, scores, nbest):
                    _write_chunk(chunk, columns, output, tag_field)
    except BrokenPipeError:
        # The reader has gone (`rnntag tag | head`): a filter then ends quietly, with the
        # status of cat or grep killed by SIGPIPE, once the workers are stopped.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(128 + signal.SIGPIPE) from None


def _write_chunk(chunk: list[Any], columns: list[list[Any]], output: str, tag_field: str) -> None:
    """Write tagged sentences in one piece (standard output may be unbuffered), or show them
    on the terminal for `--output pretty`."""
    from rnntag.tagging.output import render

    if output == "pretty":
        from rich.console import Console

        from rnntag.report import print_tagged

        console = Console(highlight=False)
        for sentence, sentence_columns in zip(chunk, columns, strict=True):
            print_tagged(console, sentence, sentence_columns)
        return
    sys.stdout.write(render(chunk, columns, output, tag_field))
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
    from rnntag.api import score_files, score_model
    from rnntag.report import print_eval

    if mode not in ("conlleval", "strict"):
        raise typer.BadParameter("must be conlleval or strict", param_hint="--mode")
    if errors < 0 or (errors and as_json):
        raise typer.BadParameter("must be 0 or more, and without --json", param_hint="--errors")
    # Checked before tagging, which can take a while.
    if html is not None and not html.parent.is_dir():
        raise typer.BadParameter(f"folder {html.parent} does not exist", param_hint="--html")
    _tag_field(tag_field)
    read: dict[str, Any] = dict(
        fmt=fmt and _format(fmt, ""), tag_column=tag_column, tag_field=tag_field,
        encoding=encoding, scheme=scheme, mode=mode,
    )  # fmt: skip
    if model is not None and test_file is not None and gold is None and pred is None:
        scored = score_model(model, test_file, device=_device(device), **read)
    elif gold is not None and pred is not None and model is None and test_file is None:
        scored = score_files(gold, pred, **read)
    else:
        raise typer.BadParameter("give either -m MODEL TEST or --gold GOLD --pred PRED")
    result = scored.result
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_eval(_stdout(), result)
    if errors or html is not None:
        from rnntag.evaluation.analysis import analyze

        analysis = analyze(scored.tokens, scored.gold, scored.pred, spans="spans" in result)
        if errors:
            from rnntag.report import print_errors

            print_errors(_stdout(), analysis.confusions, errors)
        if html is not None:
            from rnntag.evaluation.html import render_report, write_report

            write_report(html, render_report(result, analysis, scored.source, scored.lines))
            _stderr().print(f"report written to {html}", highlight=False, soft_wrap=True)


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
    from rnntag.report import print_bench, print_tokenization
    from rnntag.tagging.bench import benchmark, tokenization_scores
    from rnntag.tagging.tagger import Tagger

    if tokenization:
        scores = tokenization_scores(input_file)
        if as_json:
            print(json.dumps(scores, indent=1))
        else:
            print_tokenization(_stdout(), scores)
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
        sys.exit(2 if isinstance(exc, UsageError) else 1)
