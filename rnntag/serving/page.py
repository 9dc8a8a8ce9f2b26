"""The page `rnntag serve` answers `GET /` with: a text box, and the tagged text with entities
highlighted by type and the other models' tags on hover. Self-contained: it loads nothing but
its own answers from the server."""

from __future__ import annotations

import json
from html import escape

from rnntag.evaluation.html import PALETTE

# Scripts and styles only from the page itself; requests only to the server that sent it.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
)

STYLE = """
body { margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #1f2937;
  font: 16px/1.6 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
textarea { width: 100%; min-height: 8rem; font: inherit; padding: .5rem; }
button { font: inherit; margin: .5rem 0; padding: .3rem 1.2rem; }
#status { color: #6b7280; margin-left: .8rem; }
.sentence { margin: .6rem 0; }
.token[title] { border-bottom: 1px dotted #9ca3af; cursor: help; }
mark { border-radius: .25rem; padding: .05rem .25rem; }
mark .type { font-size: .7em; font-weight: 600; margin-left: .25rem; }
#legend mark { margin-right: .4rem; }
"""

SCRIPT = """
const form = document.getElementById("form");
const box = document.getElementById("text");
const out = document.getElementById("out");
const status = document.getElementById("status");

function token(text, tags) {
  const span = document.createElement("span");
  span.className = "token";
  span.textContent = text;
  if (tags.length) span.title = tags.join(" · ");
  return span;
}

function render(sentence) {
  const line = document.createElement("p");
  line.className = "sentence";
  const spanModels = Object.keys(sentence.entities || {});
  const plain = Object.keys(sentence.tags).filter((name) => !spanModels.includes(name));
  const entities = new Map();
  for (const entity of spanModels.length ? sentence.entities[spanModels[0]] : []) {
    entities.set(entity.token_start, entity);
  }
  let i = 0;
  while (i < sentence.tokens.length) {
    if (i > 0) line.append(" ");
    const tagsAt = (k) => plain.map((name) => `${name}: ${sentence.tags[name][k]}`);
    const entity = entities.get(i);
    if (entity === undefined) {
      line.append(token(sentence.tokens[i].text, tagsAt(i)));
      i += 1;
      continue;
    }
    const mark = document.createElement("mark");
    mark.className = "entity t" + (TYPES[entity.label] ?? 0);
    mark.dataset.type = entity.label;
    for (let k = entity.token_start; k < entity.token_end; k++) {
      if (k > entity.token_start) mark.append(" ");
      mark.append(token(sentence.tokens[k].text, tagsAt(k)));
    }
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = entity.label;
    mark.append(type);
    line.append(mark);
    i = entity.token_end;
  }
  return line;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  out.replaceChildren();
  status.textContent = "tagging…";
  try {
    const response = await fetch("tag", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: box.value}),
    });
    const answer = await response.json();
    if (!response.ok) {
      status.textContent = answer.error;
      return;
    }
    out.append(...answer.sentences.map(render));
    const n = answer.sentences.length;
    status.textContent = `${n} sentence${n === 1 ? "" : "s"}`;
  } catch (error) {
    status.textContent = `no answer from the server (${error.message})`;
  }
});

// A link can carry its text (`/?text=...`): the page then tags it at once.
const given = new URLSearchParams(location.search).get("text");
if (given) {
  box.value = given;
  form.requestSubmit();
}
"""


def page(models: list[str], entity_types: list[str]) -> str:
    """The page's HTML.

    Args:
        models: The loaded models' names.
        entity_types: The entity types of the span models, each given a colour.

    Returns:
        The whole document.
    """
    shades = [PALETTE[i % len(PALETTE)] for i in range(len(entity_types))]
    colours = "\n".join(
        f".t{i} {{ background: {back}; color: {ink}; }}" for i, (back, ink) in enumerate(shades)
    )
    legend = "".join(
        f'<mark class="t{i}">{escape(kind)}</mark>' for i, kind in enumerate(entity_types)
    )
    types = json.dumps({kind: i for i, kind in enumerate(entity_types)}).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>rnntag</title>
<style>{STYLE}{colours}</style>
</head>
<body>
<h1>rnntag: {escape(", ".join(models))}</h1>
<form id="form">
<textarea id="text" name="text" placeholder="Text to tag"></textarea>
<div><button type="submit">Tag</button><span id="status"></span></div>
</form>
<div id="legend">{legend}</div>
<div id="out"></div>
<script>const TYPES = {types};
{SCRIPT}</script>
</body>
</html>
"""
