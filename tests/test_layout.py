"""The package's layers: every module imports only from its own layer or from layers below."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rnntag"
# Bottom to top, as docs/development.md's Layout section lists them.
LAYERS = ["errors", "version", "io", "model", "evaluation", "tagging", "training", "exporting",
          "serving", "cluster", "pretty", "report", "api", "options", "process",
          "cli", "__init__", "__main__"]  # fmt: skip


def _layer(module: str) -> str:
    """`rnntag.io.formats` is in layer `io`, `rnntag.api` in `api`, `rnntag` in `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnntag"):
            assert node.module is not None
            if node.module == "rnntag":
                names += [f"rnntag.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("rnntag")]
    return names


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("rnntag", *path.relative_to(PACKAGE).with_suffix("").parts))
        own = _layer(module.removesuffix(".__init__"))
        assert own in LAYERS, f"{path} is in no layer"
        upward += [
            f"{module} imports {name}"
            for name in _imports(path)
            if LAYERS.index(_layer(name)) > LAYERS.index(own)
        ]
    assert upward == []
