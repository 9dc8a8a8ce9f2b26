"""Tagging with a trained model: the inference path, tagged sentences, output formats, worker
processes, a Dask cluster and the benchmark."""
