"""The compliance map (``clauses.toml``): each clause of policy 820 and Civil Code 1798.90.51-.55, the
code that enforces it and the tests that prove it, loaded and checked against the source.

The check reads the named files with ``ast`` and never imports them, so a map that names a function,
method or test that is gone (renamed, moved, deleted) is caught in the test run and in the report
itself, before an auditor finds the map untrue.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MAP = Path(__file__).resolve().with_name("clauses.toml")
REPO = Path(__file__).resolve().parents[2]
# every clause the map must cover, in the order the report shows them
REQUIRED = ("820.1", "820.2", "820.3", "820.4", "820.5", "820.6", "820.7", "820.8", "820.9",
            "1798.90.51", "1798.90.52", "1798.90.53", "1798.90.54", "1798.90.55")


class MapError(ValueError):
    """The map cannot be read at all (bad TOML, a clause without its fields)."""


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    statement: str  # the project's one-line summary of the requirement, not legal text
    code: tuple[str, ...]  # path/to/file.py::Name or path::Class.method
    tests: tuple[str, ...]  # pytest node ids
    checks: tuple[str, ...]  # live checks of alpr.compliance.checks that cover it


def parse(text: str) -> list[Clause]:
    """The clauses of a map's TOML text, in file order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"the compliance map is not valid TOML: {exc}") from None
    out = []
    for cid, body in data.get("clause", {}).items():
        try:
            out.append(Clause(cid, body["title"], body["statement"], tuple(body.get("code", ())),
                              tuple(body.get("tests", ())), tuple(body.get("checks", ()))))
        except (KeyError, TypeError) as exc:
            raise MapError(f"clause {cid}: missing or malformed {exc}") from None
    return out


def load(path: Path = MAP) -> list[Clause]:
    return parse(path.read_text())


@cache
def _names(path: Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Top-level names a module defines (functions, classes, assignments) and each class's members."""
    tree = ast.parse(path.read_text(), str(path))
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            members[node.name] = frozenset(
                n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            ) | {t.id for n in node.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                 for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            top.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(top), members


def _file(ref: str, repo: Path) -> tuple[Path | None, str, str]:
    """(the file, the name part, why not) for a ``path::name`` reference."""
    rel, sep, name = ref.partition("::")
    path = repo / rel
    if not sep or not name:
        return None, "", f"{ref!r} is not path::name"
    if not rel.endswith(".py") or not path.is_file():
        return None, "", f"{ref!r}: no file {rel}"
    return path, name, ""


def code_problem(ref: str, repo: Path = REPO) -> str | None:
    """Why a ``path::Name`` or ``path::Class.method`` reference names nothing; None when it exists."""
    path, name, why = _file(ref, repo)
    if path is None:
        return why
    if ref.startswith("tests/"):
        return f"{ref!r}: enforcing code lives outside tests/"
    top, members = _names(path)
    owner, _, member = name.partition(".")
    if owner not in top:
        return f"{ref!r}: {path.relative_to(repo)} defines no {owner}"
    if member and member not in members.get(owner, frozenset()):
        return f"{ref!r}: {owner} has no {member}"
    return None


def node_problem(node: str, repo: Path = REPO) -> str | None:
    """Why a pytest node id (``tests/x/test_y.py::test_name[param]`` or ``...::TestCls::test_name``)
    names no test; None when it exists."""
    path, name, why = _file(node, repo)
    if path is None:
        return why
    if not node.startswith("tests/"):
        return f"{node!r}: tests live under tests/"
    parts = name.split("[", 1)[0].split("::")
    top, members = _names(path)
    if parts[0] not in top or not parts[-1].startswith(("test", "Test")):
        return f"{node!r}: {path.relative_to(repo)} has no test {parts[0]}"
    if len(parts) == 2 and parts[1] not in members.get(parts[0], frozenset()):
        return f"{node!r}: {parts[0]} has no {parts[1]}"
    if len(parts) > 2:
        return f"{node!r}: nested test classes are not supported in the map"
    return None


def problems(clauses: list[Clause], checks: Mapping[str, tuple[str, ...]], repo: Path = REPO) -> list[str]:
    """Everything untrue about a map: a required clause missing, a clause without enforcing code or
    tests, a reference to code or a test that does not exist, and live checks that the map and
    ``checks`` (name -> the clauses it proves) attribute differently."""
    out = []
    ids = [c.id for c in clauses]
    out += [f"clause {cid} is missing from the map" for cid in REQUIRED if cid not in ids]
    out += [f"clause {cid} is not one of policy 820 or 1798.90.51-.55" for cid in ids if cid not in REQUIRED]
    out += [f"clause {cid} appears more than once" for cid in sorted({i for i in ids if ids.count(i) > 1})]
    for c in clauses:
        if not c.statement.strip():
            out.append(f"clause {c.id} has no statement")
        if not c.code:
            out.append(f"clause {c.id} names no enforcing code")
        if not c.tests:
            out.append(f"clause {c.id} names no test")
        out += [f"clause {c.id}: {why}" for ref in c.code if (why := code_problem(ref, repo))]
        out += [f"clause {c.id}: {why}" for node in c.tests if (why := node_problem(node, repo))]
        out += [f"clause {c.id}: no live check {name!r}" for name in c.checks if name not in checks]
    for name, proves in checks.items():
        named_by = {c.id for c in clauses if name in c.checks}
        if named_by != set(proves):
            out.append(f"check {name} proves {', '.join(sorted(proves))} but the map names it under "
                       f"{', '.join(sorted(named_by)) or 'no clause'}")
    return out
