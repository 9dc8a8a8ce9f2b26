"""Tagging a corpus of many files on a Dask cluster: each worker process loads the models once,
when it joins (a worker plugin: the task carries only names), and each file is one task
whose output is what `rnntag tag` writes for that file, in its order.

    from dask.distributed import Client
    from rnntag.tagging.cluster import tag_files

    with Client("tcp://scheduler:8786") as client:      # or Client() for this machine
        tag_files(client, ["a.txt", "b.txt"], "tagged/", models=["ner"], output="jsonl")

Workers read the inputs and write the outputs by the paths given, so on several machines
both must be on a file system they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from rnntag.errors import UsageError
from rnntag.io.files import atomic_write, check_output
from rnntag.io.formats import Format, ReadOptions
from rnntag.io.schemes import check_output_scheme
from rnntag.model.directory import resolve_model
from rnntag.tagging.render import render
from rnntag.tagging.tagged import check_nbest

# The suffix of each output format's files.
SUFFIXES = {"conll": ".conll", "conllu": ".conllu", "jsonl": ".jsonl", "inline": ".txt"}

# In each worker process: the models a plugin loaded, by (models, output scheme), and how
# many times each was loaded (once, unless a worker restarts).
_loaded: dict[tuple[tuple[str, ...], str | None], Any] = {}
_loads: dict[tuple[tuple[str, ...], str | None], int] = {}


def load_counts() -> dict[tuple[tuple[str, ...], str | None], int]:
    """How many times this process loaded each set of models; `client.run(load_counts)`
    asks every worker."""
    return dict(_loads)


class ModelsPlugin(WorkerPlugin):
    """A Dask worker plugin that loads the models into each worker as it starts (and into
    workers that join later).

    Args:
        models: Model names or directories, as for `rnntag tag -m`.
        output_scheme: Span scheme of the output; None for the data's.
    """

    def __init__(self, models: Sequence[str], output_scheme: str | None):
        super().__init__()
        self.key = (tuple(models), output_scheme)
        self.name = f"rnntag-models-{'-'.join(models)}-{output_scheme}"

    def setup(self, worker: Any) -> None:
        """Load the models, on the CPU, in the worker process."""
        from rnntag.model.memory import bound_kernel_cache
        from rnntag.tagging.run import Tagging

        bound_kernel_cache()  # the worker process is rnntag's, as a command's is

        if self.key not in _loaded:
            _loaded[self.key] = Tagging(list(self.key[0]), self.key[1], device="cpu")
            _loads[self.key] = _loads.get(self.key, 0) + 1


def _tag_file(
    key: tuple[tuple[str, ...], str | None],
    source: str,
    target: str,
    options: dict[str, Any],
) -> str:
    """One task: tag `source` into `target` with the worker's models, `target` replaced
    only once whole."""
    tagging = _loaded[key]

    def write(path: str) -> None:
        with open(path, "w", encoding="utf-8") as out:
            chunks = tagging.tag_file(source, options["read"], options["scores"], options["nbest"])
            for chunk, columns in chunks:
                out.write(render(chunk, columns, options["output"], options["tag_field"]))

    atomic_write(Path(target), write)
    return target


def output_paths(
    files: Sequence[str | Path], out_dir: str | Path, output: str, models: Sequence[str] = ()
) -> list[Path]:
    """Where each input's output goes: `out_dir`/its name with the output format's suffix.

    Raises:
        UsageError: Two inputs would share an output, or an output would replace an input
            or a file of one of the `models`.
    """
    targets = [Path(out_dir) / Path(f).with_suffix(SUFFIXES[output]).name for f in files]
    seen: dict[Path, str | Path] = {}
    for source, target in zip(files, targets, strict=True):
        if target in seen:
            raise UsageError(f"{seen[target]} and {source} would both be tagged into {target}")
        check_output(target, files, [resolve_model(m) for m in models])
        seen[target] = source
    return targets


def tag_files(
    client: Any,
    files: Sequence[str | Path],
    out_dir: str | Path,
    models: Sequence[str] = ("pos", "ner"),
    *,
    output: str = "jsonl",
    fmt: Format | None = None,
    tag_field: str = "upos",
    output_scheme: str | None = None,
    scores: bool = False,
    nbest: int = 1,
    encoding: str = "utf-8",
) -> list[Path]:
    """Tag files on a Dask cluster, one task per file, as `rnntag tag` tags each.

    Args:
        client: A `dask.distributed.Client`.
        files: The inputs.
        out_dir: Folder of the outputs (see `output_paths`), created if missing.
        models: As `rnntag tag -m`.
        output: An output format of `rnntag tag` but `pretty`.
        fmt: Input format, as `--input`; by default from each file's suffix.
        tag_field: CoNLL-U field for the first model's tags.
        output_scheme: As `--output-scheme`.
        scores: As `--scores`.
        nbest: As `--nbest` (above 1 with `jsonl` only).
        encoding: Encoding of the inputs.

    Returns:
        The output files, in the order of `files`.

    Raises:
        RnntagError: A file could not be tagged (the first such error, as raised on its
            worker); the outputs of the others are written.
    """
    if output not in SUFFIXES:
        raise UsageError(f"output must be one of {', '.join(SUFFIXES)}")
    check_nbest(nbest)
    check_output_scheme(output_scheme)
    if nbest > 1 and output != "jsonl":
        raise UsageError("nbest above 1 needs jsonl output")
    targets = output_paths(files, out_dir, output, models)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    plugin = ModelsPlugin(models, output_scheme)
    client.register_plugin(plugin)
    read = ReadOptions(fmt, encoding=encoding)
    options = dict(read=read, scores=scores, nbest=nbest, output=output, tag_field=tag_field)
    futures = [
        client.submit(_tag_file, plugin.key, str(f), str(t), options, pure=False)
        for f, t in zip(files, targets, strict=True)
    ]
    client.gather(futures)
    return targets
