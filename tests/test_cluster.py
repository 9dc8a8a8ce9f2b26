"""`rnntag.tagging.cluster.tag_files` on a local Dask cluster of two worker processes: each
output is what `rnntag tag` writes for its file, and each worker loaded the models once."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import pickle
import shutil

import dask
import distributed
import pytest
from conftest import DATA, run_captured

from rnntag.errors import RnntagError, UsageError
from rnntag.model.directory import resolve_model
from rnntag.tagging.cluster import load_counts, tag_files
from rnntag.tagging.workers import WORKER_MODULES

# Seconds the cluster may take to start, and any one call on it.
TIMEOUT = 120


@pytest.fixture(scope="module")
def client():
    # Workers forked from the server that `rnntag tag --workers` uses, started here if need
    # be, which imported torch once: seconds sooner than interpreters that each import it.
    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_MODULES)
    multiprocessing.forkserver.ensure_running()
    forked = dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        timeout=TIMEOUT,
    )
    with forked, cluster, distributed.Client(cluster, timeout=TIMEOUT) as connected:
        yield connected


def test_each_file_is_tagged_as_tag_tags_it(client, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = []
    # More files than workers, in each input format.
    for sample in ("sentences.txt", "ner-dev.conll", "pos-dev.conllu"):
        files.append(shutil.copy(DATA / sample, inputs / sample))
    (inputs / "notes.txt").write_text("Ada Lovelace met Charles Babbage.\n\nIn London.\n")
    files.append(inputs / "notes.txt")

    written = tag_files(client, files, tmp_path / "out", ["pos", "ner"])

    for source, target in zip(files, written, strict=True):
        expected = run_captured("tag", "--output", "jsonl", source)
        assert expected.returncode == 0, expected.stderr
        assert target.read_text(encoding="utf-8") == expected.stdout, source
    # Once per worker, however many files each tagged.
    counts = client.run(load_counts)
    assert list(counts.values()) == [{(("pos", "ner"), None): 1}] * 2


def test_an_error_on_a_worker_reaches_the_caller_whole(client, tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tword\n")
    with pytest.raises(RnntagError) as raised:
        tag_files(client, [bad], tmp_path / "out", ["ner"])
    assert raised.value.path == str(bad) and raised.value.line == 1


def test_outputs_never_replace_inputs_or_each_other(tmp_path):
    one, two = tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"
    with pytest.raises(UsageError, match="would both be tagged into"):
        tag_files(None, [one, two], tmp_path / "out")
    with pytest.raises(UsageError, match="overwrite an input"):
        tag_files(None, [tmp_path / "x.jsonl"], tmp_path)
    model = resolve_model("ner")
    with pytest.raises(UsageError, match="overwrite a file of the model"):
        tag_files(None, [tmp_path / "config.txt"], model, ["ner"], output="conll")


def test_errors_cross_processes_with_their_file_and_line():
    error = pickle.loads(pickle.dumps(UsageError("bad", "f.txt", 3)))
    assert type(error) is UsageError and str(error) == "f.txt:3: bad"
