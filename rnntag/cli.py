"""The `rnntag` command: parse options, call the library, print the results."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from rnntag import options as opt
from rnntag.console.messages import messages, say
from rnntag.errors import RnntagError, UsageError
from rnntag.model.memory import bound_kernel_cache
from rnntag.process import ClosedOutput, exit_without_collecting, long_lived, use_threads

# rich is imported where it is used: tagging prints nothing through it unless asked to or
# something goes wrong, and its import would add to every start-up.
if TYPE_CHECKING:
    from rich.console import Console


def _stdout() -> Console:
    from rnntag.console.results import results_console

    return results_console()


class _Command(TyperCommand):
    """A command with a `--debug` option, whose errors from the library become one line on
    stderr and exit code 1 (bad data or model) or 2 (bad usage), without a traceback unless
    `--debug` is given, here or before the command's name."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.params.append(opt.debug_option())

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # Typer writes a required argument as `{TRAIN}`; the usage convention is `TRAIN`.
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            result = super().invoke(ctx)
            # What is still buffered fails here, while an error can still be said.
            sys.stdout.flush()
            return result
        except BrokenPipeError:
            # The reader has gone (`rnntag tag | head`): a filter then ends quietly, with the
            # status of cat or grep killed by SIGPIPE (worker processes are stopped by now).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(128 + signal.SIGPIPE) from None
        except (RnntagError, OSError) as exc:
            if ctx.meta.get("debug"):
                raise
            if isinstance(exc, OSError):
                # Output that cannot be written: /dev/full, a full disk, a closed descriptor.
                exc = RnntagError(exc.strerror or str(exc), exc.filename or "standard output")
            # One line, even where the message quotes another library's of several.
            say("rnntag: error: " + re.sub(r"\s*\n\s*", " ", str(exc)))
            raise typer.Exit(2 if isinstance(exc, UsageError) else 1) from None


app = typer.Typer(
    help="Sequence tagging (POS, named entities) with a BiLSTM-CRF.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
command = functools.partial(app.command, cls=_Command)


def _print_version(value: bool) -> None:
    if value:
        from rnntag.version import __version__

        print(f"rnntag {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    debug: opt.Debug = False,
    version: Annotated[bool, opt.version_option(_print_version)] = False,
) -> None:
    """Sequence tagging (POS, named entities) with a BiLSTM-CRF."""
    bound_kernel_cache()  # process-wide, so here, not in the library; workers inherit it
    if debug:
        ctx.meta["debug"] = True


@command()
@opt.with_settings
def train(
    ctx: typer.Context,
    train_file: opt.TrainFile,
    out: opt.Out,
    dev: opt.Dev = None,
    fmt: opt.Format = None,
    tag_column: opt.TagColumn = -1,
    tag_field: opt.TagField = "upos",
    force: opt.Force = False,
    resume: opt.Resume = False,
    device: opt.Device = "auto",
    encoding: opt.Encoding = "utf-8",
    config: opt.TomlConfig = None,
    scheme: opt.Scheme = None,
    **settings: Any,
) -> None:
    """Train a tagger on a CoNLL or CoNLL-U file and save the best model on --dev."""
    from rich.console import Console

    from rnntag.api import train as train_tagger
    from rnntag.console.progress import ProgressReporter, print_trained
    from rnntag.training.signals import StopOnSignal, TrainingInterrupted

    settings = opt.given_settings(ctx, settings)
    # Under torchrun, rank 0 alone reports.
    console = messages() if os.environ.get("RANK", "0") == "0" else Console(stderr=True, quiet=True)
    reporter = ProgressReporter(console)
    read: dict[str, Any] = dict(
        fmt=fmt, tag_column=tag_column, tag_field=tag_field, encoding=encoding
    )
    try:
        stopping = "rnntag: stopping after this batch (again to stop at once)"
        with StopOnSignal(lambda: console.print(stopping, highlight=False)) as stop:
            tagger = train_tagger(
                train_file, out, dev, config=config, scheme=scheme, device=device, resume=resume,
                force=force, observer=reporter, should_stop=stop.requested, **read, **settings,
            )  # fmt: skip
    except TrainingInterrupted as exc:
        reporter.close()
        console.print(f"rnntag: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        reporter.close()
    print_trained(console, tagger.info.results, out)


@command()
def tag(
    files: opt.Files = None,
    model: opt.Models = None,
    input_format: opt.InputFormat = None,
    output: opt.OutputFormat = "conll",
    tag_field: opt.OutputField = "upos",
    output_scheme: opt.OutputScheme = None,
    scores: opt.Scores = False,
    nbest: opt.NBest = 1,
    workers: opt.Workers = 1,
    threads: opt.Threads = 0,
    device: opt.Device = "auto",
    encoding: opt.Encoding = "utf-8",
) -> None:
    """Tag text from files or standard input and write it to standard output."""
    from rnntag.console.output import chunk_writer

    with long_lived():
        from rnntag.io.formats import ReadOptions
        from rnntag.io.source import STDIN
        from rnntag.tagging.run import Tagging

    if nbest > 1 and output != "jsonl":
        raise UsageError("--nbest above 1 needs --output jsonl")
    if workers <= 1:
        # With workers the network runs in them, one thread each, and never here.
        use_threads(threads)
    read = ReadOptions(input_format, encoding=encoding)
    with Tagging(model or ["pos", "ner"], output_scheme, device, workers) as tagging:
        write = chunk_writer(output, tag_field, tagging.entity_types)
        for path in files or [STDIN]:
            for chunk, columns in tagging.tag_file(path, read, scores, nbest):
                write(chunk, columns)


@command("eval")
def evaluate(
    test_file: opt.TestFile = None,
    model: opt.Model = None,
    gold: opt.Gold = None,
    pred: opt.Pred = None,
    fmt: opt.Format = None,
    tag_column: opt.TagColumn = -1,
    tag_field: opt.TagField = "upos",
    scheme: opt.GoldScheme = None,
    mode: opt.Mode = "conlleval",
    as_json: opt.Json = False,
    html: opt.Html = None,
    errors: opt.Errors = 0,
    device: opt.Device = "auto",
    encoding: opt.Encoding = "utf-8",
    documents: opt.EvalDocuments = "file",
    threads: opt.Threads = 0,
) -> None:
    """Score a model on a gold file, or a predicted file against a gold file."""
    from rnntag.console.tables import print_eval
    from rnntag.evaluation.scoring import score

    use_threads(threads)

    opt.check_eval(test_file, model, gold, pred, html, errors, as_json)
    read: dict[str, Any] = dict(
        fmt=fmt, tag_column=tag_column, tag_field=tag_field, encoding=encoding, scheme=scheme,
        mode=mode,
    )  # fmt: skip
    scored = score(
        test_file or gold or "", model=model, pred_path=pred, device=device, documents=documents,
        **read,
    )  # fmt: skip
    result = scored.result
    if as_json:
        record = result.to_json()
        if scored.situations:
            record["situations"] = scored.situations
        print(json.dumps(record, indent=1))
    else:
        print_eval(_stdout(), result, scored.situations)
    if errors or html is not None:
        from rnntag.evaluation.analysis import analyze

        analysis = analyze(scored.tokens, scored.gold, scored.pred, spans=result.spans is not None)
        if errors:
            from rnntag.console.tables import print_errors

            print_errors(_stdout(), analysis.confusions, errors)
        if html is not None:
            from rnntag.evaluation.html import render_report, write_report

            write_report(html, render_report(result, analysis, scored.source, scored.lines))
            say(f"report written to {html}")


@command()
def bench(
    input_file: opt.InputFile,
    model: opt.Models = None,
    input_format: opt.InputFormat = None,
    tokenization: opt.Tokenization = False,
    as_json: opt.Json = False,
    threads: opt.Threads = 0,
    device: opt.Device = "auto",
    encoding: opt.Encoding = "utf-8",
) -> None:
    """Measure tagging speed on a file as `rnntag tag` tags it (the same models and input
    format by default): tokens/s, sentences/s, peak memory, time per stage."""
    from rnntag.console.tables import print_bench, print_tokenization
    from rnntag.tagging.bench import benchmark, tokenization_scores

    if tokenization:
        scores = tokenization_scores(input_file)
        show: Any = print_tokenization
    else:
        use_threads(threads)
        scores = benchmark(model or ["pos", "ner"], input_file, input_format, encoding, device)
        show = print_bench
    if as_json:
        print(json.dumps(scores, indent=1))
    else:
        show(_stdout(), scores)


@command()
def export(onnx: opt.OnnxFile, model_dir: opt.ModelName = None, model: opt.Model = None) -> None:
    """Export a model's network as ONNX, to tag with onnxruntime and numpy alone (see
    rnntag.exporting.runtime); needs the onnx extra of rnntag."""
    try:
        from rnntag.exporting.onnx import export_onnx
    except ImportError:
        raise UsageError("rnntag export needs onnx: pip install 'rnntag[onnx]'") from None

    name = opt.one_model(model_dir, model)
    opt.check_written(onnx, [], [name])
    export_onnx(name, onnx)
    say(f"ONNX model written to {onnx}")


@command()
def serve(
    model: opt.Models = None,
    host: opt.Host = "127.0.0.1",
    port: opt.Port = 8000,
    threads: opt.Threads = 0,
    device: opt.Device = "auto",
) -> None:
    """Serve the models over HTTP: POST /tag, GET /models, GET /health, and a page at /; needs
    the serve extra of rnntag."""
    try:
        from rnntag.serving.app import serve
        from rnntag.serving.service import TaggingService
    except ImportError:
        raise UsageError(
            "rnntag serve needs Starlette and uvicorn: pip install 'rnntag[serve]'"
        ) from None

    use_threads(threads)
    with long_lived():
        service = TaggingService(model or ["pos", "ner"], device)
    names = ", ".join(service.names)
    try:
        serve(service, host, port, lambda url: say(f"rnntag: serving {names} on {url}"))
    except KeyboardInterrupt:
        # Ctrl-C: the requests in flight have been answered by now.
        raise typer.Exit(130) from None


@command()
def info(
    model_dir: opt.ModelName = None, as_json: opt.Json = False, model: opt.Model = None
) -> None:
    """Show a model's configuration, labels, size, training scores and training curve; with
    --json, format 2's config.json, without vocabularies."""
    from rnntag.console.tables import print_info
    from rnntag.model.directory import config_json, resolve_model
    from rnntag.model.modelfile import load_model

    directory = resolve_model(opt.one_model(model_dir, model))
    model_info, network = load_model(directory)
    if as_json:
        print(json.dumps(config_json(model_info), indent=1, ensure_ascii=False))
        return
    print_info(_stdout(), directory, model_info, sum(p.numel() for p in network.parameters()))


@command()
def plot(out: opt.Image, model_dir: opt.ModelName = None, model: opt.Model = None) -> None:
    """Draw a model's training curve (dev score and loss per epoch) as PNG or SVG; needs
    matplotlib, which the plot extra of rnntag installs."""
    from rnntag.evaluation.curves import plot_curve, read_curve
    from rnntag.model.directory import resolve_model

    name = opt.one_model(model_dir, model)
    opt.check_written(out, [], [name])
    plot_curve(read_curve(resolve_model(name)), out)
    say(f"training curve written to {out}")


def main(argv: list[str] | None = None) -> None:
    """Entry point (see `_Command` for the exit codes)."""
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    exit_without_collecting()
    app(args=argv, prog_name="rnntag")
