"""An evaluation as one self-contained HTML page: scores, confusion heat map, frequent errors
and the sentences with errors, gold and prediction side by side.

The page has inline CSS, no script, and a Content-Security-Policy that forbids loading
anything, so it shows the same offline, from a mail attachment or from a CI artefact. It is
built with f-strings and `html.escape` from `metrics.evaluate` results and an
`analysis.Analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

from rnntag.evaluation.analysis import Analysis, ErrorSentence, Mark
from rnntag.evaluation.confusion import MISSED, SPURIOUS, ConfusionMatrix
from rnntag.evaluation.metrics import Evaluation
from rnntag.version import __version__

# Nothing may load: no fonts, images, scripts or styles from elsewhere.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
# Background and text colours for entity types, in the order of the sorted type names.
PALETTE = (
    ("#dbeafe", "#1e3a8a"),
    ("#dcfce7", "#14532d"),
    ("#fef3c7", "#78350f"),
    ("#f3e8ff", "#581c87"),
    ("#ffe4e6", "#881337"),
    ("#e0f2fe", "#0c4a6e"),
    ("#fae8ff", "#701a75"),
    ("#ecfccb", "#365314"),
)

STYLE = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bad: #dc2626; --soft: #f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans",
  sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
p { margin: 6px 0; }
.meta, .note { color: var(--muted); }
.note { font-size: 13px; max-width: 70em; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 4px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 150px;
  background: var(--soft); }
.card .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .name { color: var(--muted); font-size: 13px; }
.row { display: flex; flex-wrap: wrap; gap: 40px; align-items: flex-start; }
.row > section { min-width: 0; }
.row > section.matrix { flex: 0 1 auto; }
/* Caps the legend's width, so the heat map sits beside the scores when both fit. */
.matrix .legend, .matrix .note { max-width: 600px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; }
.scores th { text-align: left; border-bottom: 2px solid var(--ink); }
.scores td { border-bottom: 1px solid var(--line); }
.scores .num { text-align: right; }
.scores tr.avg td { background: var(--soft); font-weight: 600; }
.scores tr.avg:first-of-type td { border-top: 2px solid var(--ink); }
.scroll { overflow-x: auto; max-width: 100%; }
.heatmap th { font-size: 13px; font-weight: 600; white-space: nowrap; }
.heatmap thead th { text-align: center; vertical-align: bottom; }
.heatmap tbody th { text-align: right; }
.heatmap th.extra { color: var(--bad); font-style: italic; }
.heatmap th.corner { font-weight: 400; color: var(--muted); text-align: left; }
.heatmap td { min-width: 46px; height: 34px; text-align: center; border: 1px solid #fff;
  font-size: 13px; }
.heatmap td.zero { background: var(--soft); color: #d1d5db; }
.heatmap td.na { background: repeating-linear-gradient(45deg, #f3f4f6 0 4px, #fff 4px 8px); }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; color: var(--muted);
  margin: 8px 0; }
.swatch { display: inline-block; width: 64px; height: 12px; vertical-align: middle;
  border-radius: 2px; margin-right: 4px; }
.errors td, .errors th { border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
.errors .num { text-align: right; }
.errors .what { white-space: nowrap; font-weight: 600; }
.ctx { color: var(--muted); }
.ctx b { color: var(--bad); background: #fee2e2; padding: 0 3px; border-radius: 3px; }
.sent { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; margin: 10px 0; }
.sent h3 { font-size: 12px; font-weight: 400; color: var(--muted); margin: 0 0 4px; }
.line { display: flex; gap: 10px; line-height: 2.1; }
.side { flex: 0 0 44px; font-size: 12px; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; padding-top: 2px; }
.words { flex: 1; }
mark.ent { border-radius: 4px; padding: 2px 4px; border: 2px solid transparent; }
mark.ent .lab { font-size: 10px; font-weight: 700; margin-left: 4px; vertical-align: 1px; }
mark.wrong { border-color: var(--bad); border-style: dashed; }
mark.wrong .lab { color: var(--bad); }
.il { display: flex; flex-wrap: wrap; gap: 2px 4px; }
.tok { display: inline-flex; flex-direction: column; align-items: center; padding: 2px 4px;
  border-radius: 4px; }
.tok .t { font-size: 11px; color: var(--muted); font-family: "DejaVu Sans Mono", monospace; }
.tok.head { align-items: flex-end; }
.tok.head span { font-size: 11px; color: var(--muted); text-transform: uppercase; }
.tok.bad { background: #fee2e2; }
.tok.bad .t.pred { color: var(--bad); font-weight: 700; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def plural(count: int, noun: str) -> str:
    """`1 token`, `2 tokens`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _cards(result: Evaluation, analysis: Analysis) -> str:
    cards: list[tuple[str, str]] = []
    if result.spans is not None:
        micro = result.spans.micro
        cards += [
            ("span F1 (micro)", _percent(micro.f1)),
            ("precision (micro)", _percent(micro.precision)),
            ("recall (micro)", _percent(micro.recall)),
        ]
    cards.append(("token accuracy", _percent(result.token_accuracy)))
    for name, part in (result.seen_unseen or {}).items():
        if part.tokens:
            label = f"{name} words ({plural(part.tokens, 'token')})"
            cards.append((label, _percent(part.accuracy)))
    cards.append(("sentences with errors", f"{len(analysis.error_sentences):,}"))
    body = "".join(
        f'<div class="card"><div class="value">{_e(v)}</div><div class="name">{_e(n)}</div></div>'
        for n, v in cards
    )
    return f'<div class="cards">{body}</div>'


def _scores_table(result: Evaluation) -> str:
    """The numbers `report.print_eval` prints, as a table."""
    if result.spans is not None:
        rows = [(name, scores, False) for name, scores in result.spans.types.items()]
        rows += [(name, scores, True) for name, scores in result.spans.averages.items()]
        first = "type"
    else:
        rows = [(name, scores, False) for name, scores in (result.tags or {}).items()]
        first = "tag"
    body = []
    for name, scores, average in rows:
        # A bar behind the F1 figure, so weak types stand out at a glance.
        bar = f"background: linear-gradient(90deg, #dbeafe {100 * scores.f1:.1f}%, transparent 0)"
        body.append(
            f"<tr{' class=avg' if average else ''}><td>{_e(name)}</td>"
            f'<td class="num">{_percent(scores.precision)}</td>'
            f'<td class="num">{_percent(scores.recall)}</td>'
            f'<td class="num" style="{bar}">{_percent(scores.f1)}</td>'
            f'<td class="num">{scores.support:,}</td></tr>'
        )
    head = "".join(
        f"<th{' class=num' if h != first else ''}>{h}</th>"
        for h in (first, "precision", "recall", "F1", "support")
    )
    lines = [f"<p>token accuracy: <b>{_percent(result.token_accuracy)}</b></p>"]
    for name, part in (result.seen_unseen or {}).items():
        lines.append(
            f"<p>{_e(name)} words: accuracy {_percent(part.accuracy)} on {part.tokens:,} tokens</p>"
        )
    if result.unknown_gold_labels:
        lines.append(
            f"<p>gold labels the model never saw: {_e(', '.join(result.unknown_gold_labels))}</p>"
        )
    return (
        f'<table class="scores" id="scores"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{''.join(lines)}"
    )


def _shade(count: int, top: int, hue: int) -> tuple[str, str]:
    """Background and text colour of a heat-map cell: darker for larger counts, on a log
    scale so that a few errors still show next to thousands of correct decisions."""
    strength = math.log1p(count) / math.log1p(top) if top > 0 else 0.0
    lightness = 95 - 55 * strength
    return f"hsl({hue} 70% {lightness:.0f}%)", "#fff" if lightness < 62 else "#111827"


def _cell_name(row: str, column: str, extra_row: bool, extra_column: bool) -> str:
    """What a heat-map cell counts, for its tooltip."""
    if extra_row:
        return f"{row} {column}" if row == SPURIOUS else f"{column} predicted with other boundaries"
    if extra_column:
        return f"{column} {row}" if column == MISSED else f"gold {row} with other boundaries"
    return f"gold {row}, predicted {column}"


def _heatmap(matrix: ConfusionMatrix) -> str:
    n = len(matrix.labels)
    rows, columns = matrix.rows, matrix.columns
    correct = [matrix.counts[i][i] for i in range(n)]
    wrong = [
        c
        for i, row in enumerate(matrix.counts)
        for j, c in enumerate(row)
        if not (i == j < n) and not (i >= n and j >= n)
    ]
    top_correct, top_wrong = max(correct, default=0), max(wrong, default=0)
    head = "".join(
        f'<th scope="col"{" class=extra" if j >= n else ""}>{_e(c)}</th>'
        for j, c in enumerate(columns)
    )
    body = []
    for i, (name, counts) in enumerate(zip(rows, matrix.counts, strict=True)):
        cells = []
        for j, count in enumerate(counts):
            title = f"{_cell_name(name, columns[j], i >= n, j >= n)}: {count:,}"
            if i >= n and j >= n:
                cells.append('<td class="na" title="not applicable"></td>')
            elif count == 0:
                cells.append(f'<td class="zero" title="{_e(title)}">0</td>')
            else:
                diagonal = i == j < n
                background, ink = _shade(
                    count, top_correct if diagonal else top_wrong, 215 if diagonal else 5
                )
                kind = "ok" if diagonal else "err"
                cells.append(
                    f'<td class="{kind}" style="background: {background}; color: {ink}"'
                    f' title="{_e(title)}">{count:,}</td>'
                )
        extra = " class=extra" if i >= n else ""
        body.append(f'<tr><th scope="row"{extra}>{_e(name)}</th>{"".join(cells)}</tr>')
    return (
        '<div class="scroll"><table class="heatmap" id="confusion"><thead>'
        f'<tr><th class="corner">gold ↓ predicted →</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _heatmap_legend(spans: bool) -> str:
    blue, _ = _shade(1, 1, 215)
    red, _ = _shade(1, 1, 5)
    swatches = (
        f'<span><span class="swatch" style="background: linear-gradient(90deg, '
        f'hsl(215 70% 95%), {blue})"></span>correct (log scale)</span>'
        f'<span><span class="swatch" style="background: linear-gradient(90deg, '
        f'hsl(5 70% 95%), {red})"></span>errors (log scale, own maximum)</span>'
    )
    if spans:
        text = (
            "Rows are gold entity types, columns predicted types; a cell counts gold spans "
            "predicted with exactly the same tokens. <b>missed</b>: gold spans that no predicted "
            "span overlaps. <b>spurious</b>: predicted spans that overlap no gold span. "
            "<b>boundary</b> errors: spans that overlap a span of the other side but cover "
            "other tokens; the boundary column counts such gold spans by gold type, the "
            "boundary row such predicted spans by predicted type (one boundary error can "
            "appear in both). Each type's row adds up to its gold spans, each column to its "
            "predicted spans. Spans are read as conlleval reads them."
        )
    else:
        text = "Rows are gold tags, columns predicted tags; each token counts once."
    return f'<div class="legend">{swatches}</div><p class="note">{text}</p>'


def _top_errors(analysis: Analysis, limit: int) -> str:
    total = sum(c.count for c in analysis.confusions)
    unit = "erroneous span" if analysis.spans else "erroneous token"
    if not analysis.confusions:
        return "<p>No errors.</p>"
    rows = []
    for rank, confusion in enumerate(analysis.confusions[:limit], start=1):
        examples = "".join(
            f'<div class="ctx">{_e(x.left)} <b>{_e(x.focus)}</b> {_e(x.right)}'
            f'<br><span class="note">{_e(x.note)}</span></div>'
            for x in confusion.examples[:1]
        )
        rows.append(
            f'<tr><td class="num">{rank}</td><td class="what">{_e(confusion.label)}</td>'
            f'<td class="num">{confusion.count:,}</td><td>{examples}</td></tr>'
        )
    shown = min(limit, len(analysis.confusions))
    return (
        f'<p class="note">The {shown} most frequent of {plural(len(analysis.confusions), "kind")}'
        f" of error ({plural(total, unit)} in all), each with its first occurrence.</p>"
        '<table class="errors" id="top-errors"><thead><tr><th class="num">#</th><th>error</th>'
        f'<th class="num">count</th><th>example</th></tr></thead><tbody>{"".join(rows)}'
        "</tbody></table>"
    )


def _span_line(
    side: str, tokens: Sequence[str], marks: Sequence[Mark], colours: dict[str, int]
) -> str:
    starts = {m.start: m for m in marks}
    parts = []
    i = 0
    while i < len(tokens):
        mark = starts.get(i)
        if mark is None:
            parts.append(_e(tokens[i]))
            i += 1
            continue
        background, ink = PALETTE[colours.get(mark.label, 0) % len(PALETTE)]
        state = "ok" if mark.correct else "wrong"
        title = f"{side} {mark.label}" + (
            "" if mark.correct else f", not in the {'prediction' if side == 'gold' else 'gold'}"
        )
        parts.append(
            f'<mark class="ent {state}" style="background: {background}; color: {ink}"'
            f' title="{_e(title)}">{_e(" ".join(tokens[mark.start : mark.end]))}'
            f'<span class="lab">{_e(mark.label)}</span></mark>'
        )
        i = mark.end
    return (
        f'<div class="line {side}"><span class="side">{side}</span>'
        f'<span class="words">{" ".join(parts)}</span></div>'
    )


def _tag_lines(sentence: ErrorSentence) -> str:
    cells = ['<span class="tok head"><span>&nbsp;</span><span>gold</span><span>pred</span></span>']
    for word, gold, pred in zip(sentence.tokens, sentence.gold, sentence.pred, strict=True):
        state = "tok" if pred.correct else "tok bad"
        cells.append(
            f'<span class="{state}"><span class="w">{_e(word)}</span>'
            f'<span class="t gold">{_e(gold.label)}</span>'
            f'<span class="t pred">{_e(pred.label)}</span></span>'
        )
    return f'<div class="il">{"".join(cells)}</div>'


def _sentences(analysis: Analysis, limit: int, lines: Sequence[int] | None) -> str:
    found = analysis.error_sentences
    if not found:
        return "<p>No sentence has an error.</p>"
    colours = {label: i for i, label in enumerate(analysis.matrix.labels)}
    shown = found[:limit]
    cut = "" if len(shown) == len(found) else f"; the first {len(shown):,} are shown"
    if analysis.spans:
        how = (
            "Gold entities above, predicted below; entities with a dashed red border have no "
            "exact counterpart (same tokens, same type) on the other side."
        )
    else:
        how = "Each word with its gold tag and, below, the predicted tag; wrong tags in red."
    blocks = [
        f'<p class="note" id="sentence-count">{plural(len(found), "sentence")} with errors'
        f" (of {analysis.sentences:,}){cut}. {how}</p>"
    ]
    for sentence in shown:
        where = f"sentence {sentence.index + 1:,}"
        if lines is not None:
            where += f", line {lines[sentence.index]:,}"
        if analysis.spans:
            body = _span_line("gold", sentence.tokens, sentence.gold, colours) + _span_line(
                "pred", sentence.tokens, sentence.pred, colours
            )
        else:
            body = _tag_lines(sentence)
        blocks.append(f'<div class="sent"><h3>{_e(where)}</h3>{body}</div>')
    return "".join(blocks)


def render_report(
    result: Evaluation,
    analysis: Analysis,
    source: str,
    lines: Sequence[int] | None = None,
    max_sentences: int = 200,
    top_errors: int = 10,
) -> str:
    """The evaluation page.

    Args:
        result: Scores from `metrics.evaluate`.
        analysis: The error analysis of the same gold and predicted tags.
        source: What was evaluated, e.g. "models/en-ner on eng.testa", for the heading.
        lines: The line of each sentence in the gold file, to name the sentences shown.
        max_sentences: Sentences with errors to show at most.
        top_errors: Kinds of error to list at most.

    Returns:
        The HTML document.
    """
    if result.spans is not None:
        mode = "conlleval-compatible" if result.spans.mode == "conlleval" else "strict"
        kind = f"entity spans, scheme {result.scheme}, {mode} scoring"
        scores_title = f"Entity spans ({mode}, scheme {result.scheme})"
        matrix_title = "Confusions between entity types"
    else:
        kind = "plain tags, per-token scoring"
        scores_title = "Tags (per token)"
        matrix_title = "Confusions between tags"
    meta = f"{result.sentences:,} sentences · {result.tokens:,} tokens · {kind}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rnntag {_e(__version__)}">
<title>rnntag eval: {_e(source)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Evaluation: {_e(source)}</h1>
<p class="meta" id="mode">{_e(meta)}</p>
{_cards(result, analysis)}
<div class="row">
<section><h2>{_e(scores_title)}</h2>{_scores_table(result)}</section>
<section class="matrix"><h2>{_e(matrix_title)}</h2>
{_heatmap(analysis.matrix)}{_heatmap_legend(analysis.spans)}</section>
</div>
<section><h2>Most frequent errors</h2>{_top_errors(analysis, top_errors)}</section>
<section id="sentences"><h2>Sentences with errors</h2>
{_sentences(analysis, max_sentences, lines)}</section>
<footer>Written by rnntag {_e(__version__)} (<code>rnntag eval --html</code>).</footer>
</main>
</body>
</html>
"""


def write_report(path: str | Path, page: str) -> None:
    """Write a page atomically: a reader never sees half a file, and an error leaves any
    previous file in place.

    Raises:
        RnntagError: If the file cannot be written.
    """
    from rnntag.io.files import atomic_write

    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
