"""The CUDA path: training on a GPU and tagging there as on the CPU. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from rnntag.io.formats import load_corpus
from rnntag.model.config import ModelConfig, TrainConfig
from rnntag.tagging.tagger import Tagger
from rnntag.training.distributed import joined
from rnntag.training.loop import train
from rnntag.training.recipe import Settings, resolve

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_training_on_cuda_gives_a_model_that_tags_alike_on_both_devices(tmp_path, data_dir):
    sentences = load_corpus(str(data_dir / "ner-train.conll"))
    dev = load_corpus(str(data_dir / "ner-dev.conll"))
    settings = Settings(ModelConfig(word_dim=20, hidden_size=16), TrainConfig(epochs=3, patience=3))
    with joined(torch.device("cuda")) as cluster:
        info = train(resolve(settings, sentences, None, None, cluster), dev, tmp_path, cluster)
    assert info.results["device"] == "cuda"
    tokens = [s.tokens for s in dev]
    on_gpu = Tagger.load(str(tmp_path), torch.device("cuda")).predict(tokens, scores=True)
    on_cpu = Tagger.load(str(tmp_path), torch.device("cpu")).predict(tokens, scores=True)
    assert [p.tags for p in on_gpu] == [p.tags for p in on_cpu]
    for gpu, cpu in zip(on_gpu, on_cpu, strict=True):
        assert gpu.scores == pytest.approx(cpu.scores, abs=1e-4)
