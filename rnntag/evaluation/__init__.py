"""Scores: span F1 and token accuracy, error analysis, the HTML report."""
