"""The import rules that keep the layers apart, read from the source (AST), so an upward import
fails here before it tangles the house:

- ``alpr.domain`` imports only itself, and no library that does I/O;
- each ``alpr`` package imports only the packages below it (``LAYERS``);
- only ``alpr.app`` imports ``flows``, ``detectors`` or ``sinks``; ``detectors`` and ``sinks`` use the
  core but not each other or ``flows``; nothing imports ``alpr.app`` but ``alpr.app``;
- no import by string (``importlib.import_module``, ``__import__``, ``"module:function"`` targets).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BASE = {"alpr", "alpr.config", "alpr.metrics", "alpr.crypto", "alpr.retry"}
# what each unit may import from the core package, besides itself
LAYERS: dict[str, set[str]] = {
    "alpr.domain": set(),
    "alpr.base": {"alpr.domain"},
    "alpr.messages": {"alpr.domain", "alpr.base"},
    "alpr.store": {"alpr.domain", "alpr.base"},
    "alpr.hotlists": {"alpr.domain", "alpr.base"},
    "alpr.access": {"alpr.domain", "alpr.base", "alpr.store"},
    "alpr.compliance": {"alpr.domain", "alpr.base", "alpr.store", "alpr.hotlists", "alpr.access"},
    "alpr.dev": {"alpr.domain", "alpr.base", "alpr.messages", "alpr.store", "alpr.hotlists", "alpr.access"},
    "alpr.app": {"alpr.domain", "alpr.base", "alpr.messages", "alpr.store", "alpr.hotlists", "alpr.access", "alpr.dev",
                 "alpr.compliance", "flows", "detectors", "sinks"},
    "flows": {"alpr.domain", "alpr.base", "alpr.messages", "alpr.store", "alpr.hotlists", "alpr.access", "alpr.dev",
              "detectors", "sinks"},
    "detectors": {"alpr.domain", "alpr.base", "alpr.messages", "alpr.store", "alpr.hotlists", "alpr.access", "alpr.dev"},
    "sinks": {"alpr.domain", "alpr.base", "alpr.messages", "alpr.store", "alpr.hotlists", "alpr.access", "alpr.dev"},
}
IO_LIBRARIES = {"redis", "clickhouse_connect", "chdb", "confluent_kafka", "bytewax", "fastapi", "uvicorn", "httpx",
                "requests", "socket", "subprocess", "urllib", "http", "sqlite3", "cv2", "onnxruntime", "openvino"}


def unit_of(module: str) -> str | None:
    """The layer a module belongs to (``alpr.base`` for the shared modules at the package's top)."""
    if module == "alpr.__main__":  # ``python -m alpr``: the CLI's entry point
        return "alpr.app"
    if module in BASE:
        return "alpr.base"
    parts = module.split(".")
    if parts[0] == "alpr" and len(parts) > 1:
        return f"alpr.{parts[1]}" if f"alpr.{parts[1]}" in LAYERS else "alpr.base"
    return parts[0] if parts[0] in LAYERS else None


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement, relative ones resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            out += [(node.lineno, f"{base}.{a.name}" if unit_of(f"{base}.{a.name}") and base in ("alpr",) else base)
                    for a in node.names]
    return out


def string_imports(tree: ast.AST) -> list[int]:
    """Lines that import by name at run time."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if any(text.startswith(f"{top}.") and ":" in text for top in ("flows", "detectors", "sinks", "alpr")):
                lines.append(node.lineno)
    return lines


def violations(path: Path, source: str) -> list[str]:
    module = module_name(path)
    unit = unit_of(module)
    if unit is None:
        return []
    tree = ast.parse(source)
    found = []
    for line, target in imports(tree, module):
        top = target.split(".")[0]
        if unit == "alpr.domain" and top in IO_LIBRARIES:
            found.append(f"{path.relative_to(REPO)}:{line}: the pure domain imports {target}, which does I/O")
        other = unit_of(target)
        if other is None or other == unit:
            continue
        if other not in LAYERS[unit]:
            found.append(f"{path.relative_to(REPO)}:{line}: {unit} may not import {target} ({other})")
    found += [f"{path.relative_to(REPO)}:{line}: imports by string" for line in string_imports(tree)]
    return found


def sources() -> list[Path]:
    return [p for top in ("alpr", "flows", "detectors", "sinks") for p in sorted((REPO / top).rglob("*.py"))]


def test_every_layer_imports_only_downward():
    problems = [v for p in sources() for v in violations(p, p.read_text())]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("where, line, why", [
    ("alpr/domain/plates.py", "import redis", "does I/O"),
    ("alpr/domain/hits.py", "from alpr.store import db", "may not import alpr.store"),
    ("alpr/store/search.py", "from alpr.access.gate import Access", "may not import alpr.access"),
    ("alpr/messages/frames.py", "from alpr.app.cli_util import say", "may not import alpr.app"),
    ("alpr/dev/stack.py", "from flows import read_flow", "may not import flows"),
    ("sinks/kafka.py", "from detectors.registry import make_reader", "may not import detectors"),
    ("detectors/base.py", "from sinks.clickhouse import READS", "may not import sinks"),
    ("alpr/store/db.py", "from alpr import app", "may not import alpr.app"),
    ("alpr/app/cli.py", "import importlib\nimportlib.import_module('flows.read_flow')", "imports by string"),
    ("alpr/app/cli.py", "TARGET = 'flows.read_flow:build_from_env()'", "imports by string"),
])
def test_an_upward_import_is_caught(where, line, why):
    path = REPO / where
    assert not violations(path, path.read_text())
    problems = violations(path, path.read_text() + "\n" + line + "\n")
    assert any(why in p for p in problems), problems
