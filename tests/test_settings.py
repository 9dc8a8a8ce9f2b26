"""The hyperparameters' declarations (`rnntag.model.config.setting`): each field's default,
help, range and choices, and that config.json, TOML, the checks and `rnntag train`'s options
all read them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import typer.main

from rnntag.cli import app
from rnntag.errors import RnntagError
from rnntag.model.config import ModelConfig, TrainConfig, check_settings, from_dict, read_toml
from rnntag.model.directory import CONFIG_FILE, config_json, read_info
from rnntag.model.modelfile import load_model

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "v1-tiny-ner"
FIELDS = [
    pytest.param(cls, item, id=f"{cls.__name__}.{item.name}")
    for cls in (ModelConfig, TrainConfig)
    for item in dataclasses.fields(cls)
]


def _choices(cls: type, name: str) -> tuple[Any, ...]:
    """The values the declaration allows, for a `Literal` field; () for any other."""
    hint = typing.get_type_hints(cls)[name]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _train_option(name: str) -> Any:
    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return next(p for p in command.params if p.name == name)


@pytest.mark.parametrize(("cls", "item"), FIELDS)
def test_every_setting_declares_help_and_a_default_within_its_range_and_choices(cls, item):
    low, high, flags = item.metadata["low"], item.metadata["high"], item.metadata["flags"]

    assert item.metadata["help"].strip()
    if low is not None:
        assert low <= item.default
    if high is not None:
        assert item.default <= high
    if low is not None and high is not None:
        assert low < high
    choices = _choices(cls, item.name)
    if choices:
        assert item.default in choices
    if flags is not None:
        assert {*flags, item.default} == set(choices)


@pytest.mark.parametrize(("cls", "item"), FIELDS)
def test_the_train_option_of_each_setting_offers_exactly_its_choices(cls, item):
    option = _train_option(item.name)
    choices = _choices(cls, item.name)

    if item.metadata["flags"] is not None:
        # --name, --no-name or neither, read as the values they stand for.
        flag = "--" + item.name.replace("_", "-")
        assert (option.opts, option.secondary_opts) == ([flag], [flag.replace("--", "--no-")])
        given = [from_dict(cls, {item.name: v}, "t") for v in (True, False, None)]
        assert sorted(getattr(config, item.name) for config in given) == sorted(choices)
    else:
        # () for an option of any value
        assert tuple(getattr(option.type, "choices", ())) == choices


@pytest.mark.parametrize(
    ("cls", "item"),
    [p for p in FIELDS if p.values[1].metadata["low"] is not None],  # type: ignore[union-attr]
)
def test_a_value_beyond_a_declared_bound_is_refused_naming_the_setting(cls, item):
    section = "model" if cls is ModelConfig else "train"
    step = 1 if isinstance(item.default, int) else 0.5
    beyond = [item.metadata["low"] - step]
    if item.metadata["high"] is not None:
        beyond.append(item.metadata["high"] + step)
    check_settings(cls())
    for value in beyond:
        with pytest.raises(RnntagError, match=rf"^{section}\.{item.name} = "):
            check_settings(dataclasses.replace(cls(), **{item.name: value}))


@pytest.mark.parametrize(
    ("value", "setting"), [(True, "on"), (False, "off"), (None, "auto"), ("off", "off")]
)
def test_doc_memory_as_earlier_releases_wrote_it_reads_as_a_choice(tmp_path, value, setting):
    # config.json and TOML of earlier releases held true, false or null (decide from the data).
    assert from_dict(ModelConfig, {"doc_memory": value}, "model").doc_memory == setting
    toml = tmp_path / "recipe.toml"
    toml.write_text(f"[model]\ndoc_memory = {json.dumps(value)}\n" if value is not None else "")
    assert read_toml(str(toml))[0].doc_memory == ("auto" if value is None else setting)


@pytest.mark.parametrize(
    ("value", "memory"), [(True, "on"), (False, "off"), (None, "off"), ("absent", "off")]
)
def test_a_model_of_an_earlier_release_has_its_document_memory_on_or_off(tmp_path, value, memory):
    # null, or no doc_memory at all, was a model trained before the memory existed: none.
    model = tmp_path / "model"
    shutil.copytree(FIXTURE, model)
    config = json.loads((model / CONFIG_FILE).read_text(encoding="utf-8"))
    if value != "absent":
        config["model"]["doc_memory"] = value
    (model / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")

    info = read_info(model)

    assert info.model.doc_memory == memory
    assert config_json(info)["model"]["doc_memory"] == memory
    if memory == "off":  # the fixture's weights have no memory: it loads as before
        load_model(model)
