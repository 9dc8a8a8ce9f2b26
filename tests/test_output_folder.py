"""What a training may do to its output folder: write only into a new or empty one (or, with
--force or --resume, only its own files), never leave a model or checkpoint half saved,
and keep a second training out while one runs."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from conftest import DATA, run
from test_modelfile import tiny_info

from rnntag.errors import RnntagError
from rnntag.io.files import COMMITTED, STAGING
from rnntag.model import modelfile
from rnntag.model.config import ModelInfo
from rnntag.model.modelfile import build_model, load_model, restored, save_model, stored
from rnntag.model.network import SequenceTagger
from rnntag.training.checkpoint import LoopState, load_checkpoint, save_checkpoint
from rnntag.training.output_folder import LOCK_FILE, claim_output

QUICK = [
    DATA / "ner-train.conll", "--epochs", "1", "--hidden-size", "8", "--char-hidden", "8",
    "--word-dim", "8", "--threads", "1",
]  # fmt: skip


def contents(folder: Path) -> dict[str, bytes]:
    """Every file below `folder`, by its path relative to it."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": b"mine"}, "is not empty (it holds 'notes.txt')"),
        ({"checkpoint/mine.txt": b"mine", "metrics.jsonl": b"{}\n"}, "is not empty (it holds"),
        ({"checkpoint/state.json": b"{}"}, "holds an interrupted training; continue it with"),
        ({"config.json": b"{}"}, "already holds a model"),
    ],
    ids=["a user's file", "the issue's folder", "a checkpoint", "a model"],
)
def test_a_folder_with_files_is_refused_without_force_and_left_as_it_was(
    tmp_path, capsys, files, message
):
    out = tmp_path / "x"
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)

    assert run("train", *QUICK, "-o", out) == 2

    assert message in capsys.readouterr().err
    assert contents(out) == files


def test_force_replaces_only_rnntags_own_files(tmp_path, capsys):
    out = tmp_path / "x"
    (out / "checkpoint").mkdir(parents=True)
    mine = {"checkpoint/mine.txt": b"mine", "notes.txt": b"my notes", "words.txt.bak": b"copy"}
    for name, data in mine.items():
        (out / name).write_bytes(data)
    (out / "metrics.jsonl").write_bytes(b"{}\n")

    assert run("train", *QUICK, "-o", out, "--force") == 0

    after = contents(out)
    assert {name: after[name] for name in mine} == mine
    assert set(after) - set(mine) == {
        "config.json", "model.safetensors", "words.txt", "chars.txt", "metrics.jsonl"
    }  # fmt: skip
    assert after["metrics.jsonl"].count(b"\n") == 1 and b'"epoch": 1' in after["metrics.jsonl"]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "empty"])
def test_a_new_or_empty_folder_is_trained_into_and_left_unlocked(tmp_path, existing):
    out = tmp_path / "deep" / "x"
    if existing:
        out.mkdir(parents=True)

    assert run("train", *QUICK, "-o", out) == 0

    assert (out / "model.safetensors").is_file()
    assert not (out / LOCK_FILE).exists()


def test_a_failed_training_leaves_no_folder_it_made(tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Ada\tB-PER\nspoke\n", encoding="utf-8")
    out = tmp_path / "x"

    assert run("train", bad, "-o", out) == 1

    assert not out.exists()


def test_a_second_training_into_a_held_folder_is_refused_naming_the_first(tmp_path, capsys):
    out = tmp_path / "x"
    with claim_output(out, force=False, resume=False):
        code = run("train", *QUICK, "-o", out, "--force")
    err = capsys.readouterr().err

    assert code == 1
    assert f"another training is writing this folder (process {os.getpid()} on " in err
    assert not (out / "config.json").exists()


def test_the_lock_of_a_killed_training_does_not_hold(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    # A process that takes the lock as a training does, then dies by SIGKILL.
    with subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR"
         " | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print(flush=True); time.sleep(60)",
         str(out / LOCK_FILE)],
        stdout=subprocess.PIPE,
    ) as holder:  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline()
        with (
            pytest.raises(RnntagError, match="another training is writing"),
            claim_output(out, force=True, resume=False),
        ):
            pass
        holder.kill()

    with claim_output(out, force=True, resume=False):
        assert (out / LOCK_FILE).read_text().startswith(f"process {os.getpid()} ")
    assert not (out / LOCK_FILE).exists()


class Killed(BaseException):
    """What a test raises where `kill -9` would have stopped the process."""


# The calls through which a save changes the disk (the bytes themselves are written between
# them, into files that no reader looks at until a rename).
FILE_SYSTEM_CALLS = ("open", "replace", "rename", "unlink", "rmdir", "mkdir", "fsync", "chmod")


@contextlib.contextmanager
def killed_at(step: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let the first `step` file-system calls happen, and none after: the process is "killed"
    there, so no clean-up runs either."""
    calls = itertools.count()

    def stopping(real: Callable) -> Callable:
        def call(*args, **kwargs):
            if next(calls) >= step:
                raise Killed
            return real(*args, **kwargs)

        return call

    with monkeypatch.context() as patch:
        for name in FILE_SYSTEM_CALLS:
            patch.setattr(os, name, stopping(getattr(os, name)))
        yield


def kill_at_each_step(
    monkeypatch: pytest.MonkeyPatch,
    fresh: Callable[[], Path],
    save: Callable[[Path], None],
    check: Callable[[Path], str],
) -> list[str]:
    """Run `save` on a `fresh()` folder, killed at step 0, 1, 2... until it completes; after
    each kill, `check` says which version the folder holds. Returns those, step by step."""
    seen = []
    for step in itertools.count():
        folder = fresh()
        try:
            with killed_at(step, monkeypatch):
                save(folder)
        except Killed:
            seen.append(check(folder))
            # The next save after a kill completes, and cleans up.
            save(folder)
            assert check(folder) == "new"
            assert not (folder / STAGING).exists() and not (folder / COMMITTED).exists()
            continue
        seen.append(check(folder))
        return seen
    raise AssertionError("unreachable")


def other_model() -> tuple[ModelInfo, SequenceTagger]:
    """A model unlike `tiny_info`'s in vocabulary, results, byte pairs and weights."""
    info = tiny_info()
    info.vocab.words = [*info.vocab.words, "Paris"]
    info.results["best_epoch"] = 9
    torch.manual_seed(5)
    return info, build_model(info)


def test_a_model_save_killed_at_any_step_leaves_the_old_model_or_the_new_one(tmp_path, monkeypatch):
    torch.manual_seed(0)
    old_info = tiny_info()
    old = tmp_path / "old"
    save_model(old, old_info, build_model(old_info))
    new_info, new_model = other_model()
    new_state = restored(stored(new_model.state_dict()), torch.float32)
    copies = (tmp_path / f"copy{i}" for i in itertools.count())

    def fresh() -> Path:
        folder = next(copies)
        folder.mkdir()
        for name, data in contents(old).items():
            (folder / name).write_bytes(data)
        return folder

    def version(folder: Path) -> str:
        info, model = load_model(folder)
        new = info.results["best_epoch"] == 9
        assert info.vocab.words == (new_info if new else old_info).vocab.words
        weights = model.state_dict()["emissions.weight"]
        assert torch.equal(weights, new_state["emissions.weight"]) == new
        return "new" if new else "old"

    seen = kill_at_each_step(
        monkeypatch, fresh, lambda folder: save_model(folder, new_info, new_model), version
    )

    # Old until the commit, new from it on; a save has many steps.
    assert len(seen) > 10
    assert seen == sorted(seen, reverse=True) and seen[0] == "old" and seen[-1] == "new"


def test_a_checkpoint_save_killed_at_any_step_leaves_the_old_checkpoint_or_the_new_one(
    tmp_path, monkeypatch
):
    info = tiny_info()
    model = build_model(info)
    optimizer = torch.optim.Adam(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    def save(out: Path, epoch: int) -> None:
        save_checkpoint(out, info, LoopState(epoch=epoch), model, optimizer, scheduler, "digest")

    old = tmp_path / "old"
    save(old, 2)
    copies = (tmp_path / f"copy{i}" for i in itertools.count())

    def fresh() -> Path:
        folder = next(copies)
        for name, data in contents(old).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder

    def version(folder: Path) -> str:
        return {2: "old", 3: "new"}[load_checkpoint(folder).loop.epoch]

    seen = kill_at_each_step(monkeypatch, fresh, lambda folder: save(folder, 3), version)

    assert len(seen) > 5
    assert seen == sorted(seen, reverse=True) and seen[0] == "old" and seen[-1] == "new"


def test_a_full_disk_while_saving_keeps_the_old_model_whole(tmp_path, capsys, monkeypatch):
    out = tmp_path / "x"
    assert run("train", *QUICK, "-o", out) == 0
    model_files = {"config.json", "model.safetensors", "words.txt", "chars.txt"}
    before = {name: data for name, data in contents(out).items() if name in model_files}

    def full_disk(tensors: dict, path: str) -> None:
        Path(path).write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(modelfile, "save_file", full_disk)
    capsys.readouterr()
    assert run("train", *QUICK, "-o", out, "--force", "--hidden-size", "9") == 1

    assert capsys.readouterr().err.splitlines()[-1] == (
        f"rnntag: error: {out}: cannot save: No space left on device"
    )
    assert {name: data for name, data in contents(out).items() if name in model_files} == before
    assert not (out / STAGING).exists()
