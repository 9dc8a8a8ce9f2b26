"""The options of the `rnntag` commands, each declared once: its type, choices, help and the
check that turns a bad value into a usage error (exit code 2)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import typer.models
from typer.core import TyperOption

from rnntag.errors import RnntagError, UsageError
from rnntag.evaluation.metrics import Mode as SpanMode
from rnntag.io.conll import parse_tag_field
from rnntag.io.formats import Format as FileFormat
from rnntag.io.schemes import Scheme as SpanScheme
from rnntag.io.source import text_decoder
from rnntag.model.config import PLAIN_TAG_NETWORK, ModelConfig, TrainConfig
from rnntag.model.documents import Documents
from rnntag.tagging.render import OutputFormat as Output


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An option's callback: a value that `check` refuses is a usage error."""

    def callback(value: str) -> str:
        try:
            check(value)
        except RnntagError as exc:
            raise typer.BadParameter(exc.message) from None
        return value

    return callback


_encoding, _tag_field = _checked(text_decoder), _checked(parse_tag_field)


Debug = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]


def version_option(callback: Callable[[bool], None]) -> typer.models.OptionInfo:
    """`rnntag --version`, which `callback` answers before anything else is looked at."""
    return typer.Option(
        "--version", help="Print the version and exit.", is_eager=True, callback=callback
    )


def debug_option() -> TyperOption:
    """`--debug` as each command takes it, after its own options: it marks the context, so
    that an error the command ends with shows its traceback."""
    return TyperOption(
        param_decls=["--debug"],
        is_flag=True,
        expose_value=False,
        callback=lambda ctx, _, value: ctx.meta.update(debug=True) if value else None,
        help="Show Python tracebacks on errors.",
    )


ModelName = Annotated[
    str | None,
    typer.Argument(
        metavar="MODEL", help="Model: ner, pos or a model directory (or give it with -m)."
    ),
]
Model = Annotated[
    str | None, typer.Option("--model", "-m", help="Model: ner, pos or a model directory.")
]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        help="Model: ner, pos, or a model directory; repeat for several. Default: pos and ner.",
    ),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="conll or conllu; by default conllu for *.conllu files, conll otherwise.",
    ),
]
InputFormat = Annotated[
    FileFormat | None,
    typer.Option(
        "--input",
        "--format",
        help="text (plain text; the whole text one document), tokens (a sentence per line,"
        " space-separated, each its own document), conll (-DOCSTART- documents), conllu"
        " (# newdoc documents); by default conllu for *.conllu files, conll for *.conll,"
        " text otherwise.",
    ),
]
OutputFormat = Annotated[
    Output,
    typer.Option(help="conll, conllu, jsonl, inline or pretty."),
]
TagColumn = Annotated[
    int, typer.Option(help="CoNLL tag column (0-based; negative counts from the end).")
]
TagField = Annotated[
    str, typer.Option(help="CoNLL-U tag field: upos, xpos or misc:KEY.", callback=_tag_field)
]
OutputField = Annotated[
    str,
    typer.Option(
        help="CoNLL-U field for the first model's tags; others go to MISC.", callback=_tag_field
    ),
]
Scheme = Annotated[
    SpanScheme | None,
    typer.Option(
        help="Span scheme of the data (IOB1, IOB2, IOBES); detected when not given.",
    ),
]
GoldScheme = Annotated[
    SpanScheme | None,
    typer.Option(
        "--scheme",
        help="Span scheme of the gold file (IOB1, IOB2, IOBES), in which predictions are"
        " scored; detected when not given.",
    ),
]
OutputScheme = Annotated[
    SpanScheme | None,
    typer.Option(
        help="Span scheme of the output (IOB1, IOB2, IOBES); default: IOB2 (BIO), whatever"
        " the model's training data used.",
    ),
]
Mode = Annotated[
    SpanMode,
    typer.Option(
        help="Span scoring: conlleval (as papers report) or strict.",
    ),
]
EvalDocuments = Annotated[
    Documents,
    typer.Option(
        "--documents",
        help="For a document-memory model: tag with the gold file's documents (file:"
        " -DOCSTART-, # newdoc) or each sentence alone (sentence); the other's score is"
        " shown too.",
    ),
]
OnnxFile = Annotated[Path, typer.Option("--onnx", help="ONNX file to write.")]
Host = Annotated[
    str, typer.Option(help="Address to listen on; 0.0.0.0 or :: opens the server to the network.")
]
Port = Annotated[int, typer.Option(help="Port to listen on; 0 for a free one.", min=0, max=65535)]
Threads = Annotated[
    int,
    typer.Option(
        min=0,
        help="CPU threads for the network; 0 = half the cores, 1 to 4 (with --workers: one each).",
    ),
]
Device = Annotated[Literal["auto", "cpu", "cuda"], typer.Option(help="auto, cpu or cuda.")]
Encoding = Annotated[str, typer.Option(help="Encoding of the input files.", callback=_encoding)]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Image = Annotated[Path, typer.Option("--out", "-o", help="Image to write: .png or .svg.")]
TomlConfig = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="TOML file with \\[model] and \\[train] tables; options given here override it.",
    ),
]

TrainFile = Annotated[str, typer.Argument(metavar="TRAIN", help="Tagged training file.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")]
Dev = Annotated[str | None, typer.Option(help="Tagged development file, for early stopping.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing model in --out.")]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume", help="Continue the interrupted training in --out from its checkpoint."
    ),
]
Files = Annotated[list[str] | None, typer.Argument(help="Input files; standard input when none.")]
Scores = Annotated[
    bool,
    typer.Option(
        "--scores",
        help="Add each tag's marginal probability (and, in jsonl, each entity's confidence).",
    ),
]
NBest = Annotated[
    int,
    typer.Option(
        help="With --output jsonl: the K best tag sequences (at most 100) and probabilities."
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        help="Tagging processes (each loads the models once; at most one per core); output order"
        " kept."
    ),
]
TestFile = Annotated[
    str | None, typer.Argument(metavar="TEST", help="Gold file to tag with --model and score.")
]
Gold = Annotated[str | None, typer.Option(help="Gold file, scored against --pred.")]
Pred = Annotated[str | None, typer.Option(help="Predicted file, scored against --gold.")]
Html = Annotated[
    Path | None,
    typer.Option(
        "--html",
        dir_okay=False,
        help="Also write a self-contained HTML report: scores, confusion heat map and the"
        " sentences with errors.",
    ),
]
Errors = Annotated[
    int,
    typer.Option(
        "--errors",
        metavar="N",
        min=0,
        help="Also list the N most frequent errors, with examples.",
    ),
]
InputFile = Annotated[str, typer.Argument(metavar="FILE", help="Input to tag.")]
Tokenization = Annotated[
    bool,
    typer.Option(
        "--tokenization",
        help="Instead: score the plain-text tokeniser against FILE, a CoNLL-U gold file.",
    ),
]


# `rnntag train --help` groups its options by what they are about.
_PANELS = {ModelConfig: "Network", TrainConfig: "Training"}
_PANEL_OF = {
    "embeddings": "Pretrained vectors",
    "embeddings_max": "Pretrained vectors",
    "freeze_embeddings": "Pretrained vectors",
    "init_from": "Pretrained vectors",
    "teacher": "Distillation",
    "distill_weight": "Distillation",
    "unlabelled": "Distillation",
    "lang": "Data and output",
    "seed": "Run",
    "threads": "Run",
}
_OWN_PANEL = "Data and output"


def shown_default(name: str, default: object) -> str | bool:
    """What `rnntag train --help` shows as a setting's default: the value that applies,
    which for some depends on the data (see `PLAIN_TAG_NETWORK`, the document memory)."""
    if name in PLAIN_TAG_NETWORK:
        return f"{default}; {PLAIN_TAG_NETWORK[name]} for plain tags"
    if name == "doc_memory":
        return "on for span tags in data with documents"
    return True


def with_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` an option for every field of `ModelConfig` and `TrainConfig`, of the
    type (`Literal` for choices) and with the help declared with it (see
    `rnntag.model.config.setting`), passed as keywords, in panels by subject; the command's
    own options go to the "Data and output" panel."""
    signature = inspect.signature(command, eval_str=True)
    options = [_in_panel(p) for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    for cls in (ModelConfig, TrainConfig):
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            option = typer.Option(
                help=item.metadata["help"],
                rich_help_panel=_PANEL_OF.get(item.name, _PANELS[cls]),
                show_default=shown_default(item.name, item.default),
            )
            # A setting with flags is --name/--no-name, or neither: True, False or None,
            # which `from_dict` reads as the values they stand for.
            flags = item.metadata["flags"] is not None
            kind_of_value = bool | None if flags else hints[item.name]
            default = None if flags else item.default
            if item.default is dataclasses.MISSING:
                # A list setting is a repeatable option, none given by default.
                kind_of_value, default = kind_of_value | None, None
            options.append(
                inspect.Parameter(
                    item.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=Annotated[kind_of_value, option],
                )
            )
    command.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    return command


def given_settings(ctx: typer.Context, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings of `with_settings` that the command line gave: the rest is --config's or
    the defaults, some chosen by the tags."""
    return {
        name: value
        for name, value in settings.items()
        if getattr(ctx.get_parameter_source(name), "name", "") != "DEFAULT"
    }


def _in_panel(parameter: inspect.Parameter) -> inspect.Parameter:
    """`parameter` with its option (a copy: other commands share it) in `_OWN_PANEL`."""
    if typing.get_origin(parameter.annotation) is not Annotated:
        return parameter
    kind, *metadata = typing.get_args(parameter.annotation)
    placed = []
    for info in metadata:
        if isinstance(info, typer.models.OptionInfo):
            info = copy.copy(info)
            info.rich_help_panel = _OWN_PANEL
        placed.append(info)
    return parameter.replace(annotation=Annotated[(kind, *placed)])


def one_model(positional: str | None, option: str | None) -> str:
    """The model a command names, as its argument or with `-m`, as `tag` and `eval` take it."""
    if (positional is None) == (option is None):
        raise UsageError("name one model, as an argument or with -m")
    return positional or option or ""


def check_written(target: Path, inputs: list[str], models: list[str]) -> None:
    """Refuse an output that would replace one of the command's inputs or model files."""
    from rnntag.io.files import check_output
    from rnntag.model.directory import resolve_model

    check_output(target, inputs, [resolve_model(m) for m in models])


def check_eval(
    test_file: str | None,
    model: str | None,
    gold: str | None,
    pred: str | None,
    html: Path | None,
    errors: int,
    as_json: bool,
) -> None:
    """Refuse `rnntag eval` options that do not go together, and an `--html` report that
    could not be written, before tagging, which can take a while."""
    if errors and as_json:
        raise UsageError("--errors lists errors on the terminal, not with --json")
    if html is not None and not html.parent.is_dir():
        raise UsageError(f"--html: folder {html.parent} does not exist")
    if html is not None:
        check_written(html, [p for p in (test_file, gold, pred) if p], [model] if model else [])
    with_model, with_pred = model and test_file, gold and pred
    if not ((with_model and not (gold or pred)) or (with_pred and not (model or test_file))):
        raise UsageError("give either -m MODEL TEST or --gold GOLD --pred PRED")
