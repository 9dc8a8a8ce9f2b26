"""Scores: span F1 and token accuracy, scoring a model or a predicted file on a gold file,
error analysis, the HTML report, training curves."""
