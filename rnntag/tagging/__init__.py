"""Tagging with a trained model: the inference path, tagged sentences, output formats, worker
processes and the benchmark."""
