"""The package's layers: every module imports only from its own layer or from layers below,
and only the console package and the command line show anything."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rnntag"
# Bottom to top, as docs/development.md's Layout section lists them.
LAYERS = ["errors", "version", "io", "model", "tagging", "evaluation", "training", "exporting",
          "serving", "console", "api", "options", "process", "cli",
          "__init__", "__main__"]  # fmt: skip
# What a person sees goes through these alone: rich, print and the standard streams.
SHOWS = {"console", "cli"}


def _layer(module: str) -> str:
    """`rnntag.io.formats` is in layer `io`, `rnntag.api` in `api`, `rnntag` in `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[tuple[str, Path]]:
    """Every module of the package by dotted name, a package by its own name."""
    return [
        (".".join(("rnntag", *path.relative_to(PACKAGE).with_suffix("").parts)), path)
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _imports(path: Path, prefix: str = "rnntag") -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
            assert node.module is not None
            if node.module == "rnntag":
                names += [f"rnntag.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith(prefix)]
    return names


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for module, path in _modules():
        own = _layer(module.removesuffix(".__init__"))
        assert own in LAYERS, f"{path} is in no layer"
        upward += [
            f"{module} imports {name}"
            for name in _imports(path)
            if LAYERS.index(_layer(name)) > LAYERS.index(own)
        ]
    assert upward == []


def _shows(path: Path) -> bool:
    """Whether a module prints, touches the standard streams or uses rich."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr"):
            return True
    return bool(_imports(path, "rich"))


def test_only_the_console_and_the_command_line_show_anything():
    showing = [module for module, path in _modules() if _shows(path)]

    assert showing  # the check sees what it looks for
    assert {_layer(module) for module in showing} <= SHOWS, showing


def test_the_console_imports_neither_torch_nor_the_training_loop():
    # `rnntag tag --workers N --output pretty` keeps torch out of the parent process (see
    # test_startup for the whole command); the other console modules load no more.
    script = """
import importlib, pkgutil, sys
import rnntag.console
for module in pkgutil.iter_modules(rnntag.console.__path__):
    importlib.import_module(f"rnntag.console.{module.name}")
print(*sorted(n for n in sys.modules if n.split(".")[0] in ("rnntag", "torch")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(result.stdout.split())

    assert {"rnntag.console.pretty", "rnntag.console.progress"} <= loaded
    assert {n for n in loaded if n.startswith("torch")} == set()
    assert "rnntag.training.loop" not in loaded
