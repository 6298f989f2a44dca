"""Analysts' own SQL: one read-only SELECT over the LPR tables, run under ClickHouse's read-only limits.

ClickHouse's own parser decides what a query is, never a regular expression:

1. The text goes to ``formatQuery()`` as a bound parameter, a string the server only parses. It is
   never placed in front of EXPLAIN directly because chDB runs every statement of a multi-statement
   text: ``EXPLAIN AST SELECT 1; DROP TABLE x`` drops x. formatQuery refuses more than one statement
   and returns the one statement in canonical form.
2. ``EXPLAIN AST`` of that canonical text gives the syntax tree, which is checked node by node.
3. ``run`` executes exactly the canonical text that was checked, with readonly=1 and row, time and
   audit settings. readonly=1 is the second wall: it refuses writes, DDL, SET and table functions
   even if a query got past the guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from alpr.domain.plates import is_plausible, normalize

LPR_TABLES = ("reads", "read_images", "hits", "plates")

# Functions that read data that is not in the query's tables (files, dictionaries, Join tables, other
# tables' metadata, model files) or write (generateSerialID bumps a Keeper counter). readonly=1 does
# not stop these: on chDB, SELECT file('/etc/hostname') reads the file under readonly=1.
_DENIED_FUNCTIONS = {"file", "hascolumnintable", "getserversetting", "catboostevaluate", "generateserialid",
                     "showcertificate", "demangle"}
_DENIED_FUNCTION_PREFIXES = ("dict", "joinget", "addressto", "__")
# `x IN name` reads the table `name`: the AST shows it as a plain Identifier, not a TableIdentifier.
_IN_FUNCTIONS = {"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin", "globalnotnullin"}
_LIKE_FUNCTIONS = {"like", "notlike", "ilike", "notilike"}
_PLATE_COLUMNS = {"plate", "candidates", "folded", "matched_plate"}  # columns of the LPR tables that hold plates

_LINE = re.compile(r"(?P<indent> *)(?P<kind>[A-Za-z_]\w*)(?P<text>.*?)(?: \(children (?P<n>\d+)\))?")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNREADABLE = "the query's structure could not be read (names with line breaks are not supported)"


class SqlRefused(ValueError):
    """The query is not one read-only SELECT over the LPR tables; the message says why, for the analyst."""


@dataclass(frozen=True)
class CheckedSql:
    """A query that passed `check`: `sql` is the canonical text that was checked and is the text that runs.

    `database` is where unqualified table names resolve; `run` executes in it so that they cannot
    resolve anywhere else.
    """

    sql: str
    tables: tuple[str, ...]
    plates: tuple[str, ...]
    database: str


@dataclass
class _Node:
    kind: str
    text: str
    declared: int
    children: list[_Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The node's name without its alias: `alpr.reads` in `TableIdentifier alpr.reads (alias r)`."""
        return self.text.split(" (alias ", 1)[0]


def check(client: Client, sql: str, database: str) -> CheckedSql:
    """Refuse anything but one SELECT (WITH, UNION, INTERSECT allowed) reading only the LPR tables."""
    canonical = _query_value(client, "SELECT formatQuery({q:String})", {"q": sql})
    keyword = canonical.lstrip("(").split(None, 1)[0].upper() if canonical.strip() else ""
    if keyword not in ("SELECT", "WITH"):
        raise SqlRefused(f"only SELECT queries may be run, not {keyword or 'an empty query'}")
    try:
        # raw_query without a format adds no FORMAT clause, so a FORMAT in the tree is the analyst's.
        explained = client.raw_query("EXPLAIN AST " + canonical).decode()
    except OperationalError:
        raise
    except DatabaseError as e:
        raise SqlRefused(_reason(e)) from e
    root = _tree([_unescape(line) for line in explained.split("\n") if line])

    if root.kind != "SelectWithUnionQuery":
        raise SqlRefused(f"only SELECT queries may be run, not {root.kind}")
    for clause in root.children:
        if clause.kind == "Identifier":
            raise SqlRefused("FORMAT clauses are not allowed: alpr chooses the output format")
        if clause.kind == "Literal":
            raise SqlRefused("INTO OUTFILE is not allowed")
        if clause.kind == "Set":
            raise SqlRefused("SETTINGS clauses are not allowed: the query runs with fixed read-only settings")
        if clause.kind != "ExpressionList":
            raise SqlRefused(f"{clause.kind} clauses are not allowed")

    names: list[str] = []
    plates: list[str] = []
    for node, parents in _walk(root, ()):
        if node.kind == "Set":
            raise SqlRefused("SETTINGS clauses are not allowed: the query runs with fixed read-only settings")
        if node.kind == "TableExpression":
            source = node.children[0] if node.children else None
            if source is not None and source.kind == "Function":
                raise SqlRefused(f"table function {source.name.split()[0]}() is not allowed: {_only(database)}")
            if source is None or source.kind not in ("TableIdentifier", "Subquery"):
                raise SqlRefused(f"reading from {source.kind if source else 'nothing'} is not allowed: {_only(database)}")
        elif node.kind == "TableIdentifier":
            names.append(node.name)
        elif node.kind == "Function":
            function = node.name.split()[0].lower()
            if function in _DENIED_FUNCTIONS or function.startswith(_DENIED_FUNCTION_PREFIXES):
                raise SqlRefused(f"function {node.name.split()[0]}() is not allowed: it reads data outside the LPR tables")
            args = node.children[0].children if node.children else []
            if function in _IN_FUNCTIONS and len(args) == 2 and args[1].kind == "Identifier":
                names.append(args[1].name)
        elif node.kind == "Literal":
            plates.extend(_plates(node, parents))

    return CheckedSql(canonical, _tables(client, names, database), tuple(dict.fromkeys(plates)), database)


def read_only_settings(audit_id: str, max_rows: int, max_seconds: int) -> dict[str, Any]:
    """The settings every analyst query runs with.

    readonly=1, not 2: ClickHouse applies one request's settings together, checked against the
    session before them, so readonly=1 next to the other settings is accepted (verified on chDB 4.4 /
    ClickHouse 26.9, where clickhouse-connect sends them as a SETTINGS clause; a server gets them as
    URL parameters, applied the same way). 2 would also let the query change settings.
    max_result_rows is one above the limit so that `run` can tell a result of exactly max_rows rows
    from a cut one; 'break' returns whole blocks, so the result can hold more and `run` trims it.
    """
    return {
        "readonly": 1,
        "max_result_rows": max_rows + 1,
        "result_overflow_mode": "break",
        "max_execution_time": max_seconds,
        "log_comment": audit_id,
    }


def run(client: Client, checked: CheckedSql, *, audit_id: str, max_rows: int = 10000,
        max_seconds: int = 30) -> tuple[list[str], list[tuple], bool]:
    """Column names, at most max_rows rows, and whether rows were cut; the audit id is the log_comment."""
    try:
        result = _execute(client, checked.sql, checked.database, read_only_settings(audit_id, max_rows, max_seconds))
    except OperationalError:
        raise  # the database is unreachable: not the analyst's fault
    except DatabaseError as e:  # allowed, but ClickHouse could not run it (unknown column, timeout, ...)
        raise SqlRefused(f"the query failed: {_reason(e)}") from e
    rows = [tuple(row) for row in result.result_rows]
    return list(result.column_names), rows[:max_rows], len(rows) > max_rows


def _execute(client: Client, sql: str, database: str, settings: dict[str, Any]) -> Any:
    """Run one statement with `database` as the current database, so unqualified names resolve there.

    clickhouse-connect has no per-query database (chDB ignores the `database` setting), so the client's
    is switched for the call. On chDB it sends a SELECT's settings as a SETTINGS clause on that query
    only; an INSERT's go through session SET statements, which readonly=1 then stops it from undoing:
    only SELECTs that passed `check` should come here.
    """
    previous = client.database
    client.database = database
    try:
        return client.query(sql, settings=settings)
    finally:
        client.database = previous


def _query_value(client: Client, sql: str, parameters: dict[str, Any]) -> str:
    try:
        return client.query(sql, parameters=parameters).result_rows[0][0]
    except OperationalError:
        raise
    except DatabaseError as e:
        raise SqlRefused(_reason(e)) from e


def _reason(error: Exception) -> str:
    """ClickHouse's message without the code, the echoed query, the list of expected tokens or the version."""
    text = str(error).split("DB::Exception: ")[-1]
    for end in (". Expected one of", ": In scope", " (version", ". (", "\n"):
        text = text.split(end, 1)[0]
    if "Multi-statements are not allowed" in text:
        return "only one statement may be run: there is more after the first"
    return text.strip().rstrip(":").strip()[:300] or "ClickHouse could not parse the query"


def _unescape(text: str) -> str:
    """Undo TabSeparated (and ClickHouse string literal) backslash escapes."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def _tree(lines: list[str]) -> _Node:
    """Build the tree from EXPLAIN AST's indented lines and check every node's declared child count.

    An alias with a line break in it adds lines to the output; the counts then disagree and the query
    is refused rather than read wrongly.
    """
    root: _Node | None = None
    stack: list[_Node] = []
    for line in lines:
        m = _LINE.fullmatch(line)
        if m is None:
            raise SqlRefused(_UNREADABLE)
        depth = len(m["indent"])
        node = _Node(m["kind"], m["text"].strip(), int(m["n"] or 0))
        if depth == 0 and root is None:
            root = node
        elif 0 < depth <= len(stack):
            stack[depth - 1].children.append(node)
        else:
            raise SqlRefused(_UNREADABLE)
        del stack[depth:]
        stack.append(node)
    if root is None or any(len(n.children) != n.declared for n, _ in _walk(root, ())):
        raise SqlRefused(_UNREADABLE)
    return root


def _walk(node: _Node, parents: tuple[_Node, ...]) -> Iterator[tuple[_Node, tuple[_Node, ...]]]:
    """Every node, parents first, with its ancestors (nearest last)."""
    yield node, parents
    for child in node.children:
        yield from _walk(child, parents + (node,))


def _plates(literal: _Node, parents: tuple[_Node, ...]) -> list[str]:
    """Plates a literal names: a LIKE pattern as written, else strings that normalise to a plausible
    plate; compared with a plate column (``plate = 'NTGUILTY'``), all-letter ones too, as the
    reader reads vanity plates.

    ISO dates ('2026-01-02 ...') normalise to eight digits, which would pass as plates; they are skipped.
    """
    values = [_unescape(m.group(1)) for m in _QUOTED.finditer(literal.text)]
    args = parents[-1].children if len(parents) >= 2 and parents[-2].kind == "Function" else []
    if args and parents[-2].name.split()[0].lower() in _LIKE_FUNCTIONS and len(args) == 2 and args[1] is literal:
        return values
    beside_plate = any(a.kind == "Identifier" and a.name.split(".")[-1] in _PLATE_COLUMNS for a in args)
    plates = [normalize(v) for v in values if not _ISO_DATE.match(v.strip())]
    return [p for p in plates if is_plausible(p, letters_only=beside_plate)]


def _only(database: str) -> str:
    return f"only the LPR tables {', '.join(LPR_TABLES)} of database {database} may be read"


def _tables(client: Client, names: list[str], database: str) -> tuple[str, ...]:
    """The LPR tables named; refuse any other table, database or dictionary.

    An unqualified name that is not an LPR table is accepted only when no table or dictionary of that
    name exists in `database`: it is then a WITH alias (whose own query was checked) or a typo that
    ClickHouse will report. EXPLAIN AST does not print WITH names, hence the look-up.
    """
    tables: set[str] = set()
    unknown: set[str] = set()
    for name in names:
        parts = name.split(".")
        if len(parts) == 2 and parts[0] != database:
            raise SqlRefused(f"{name} is not allowed: {_only(database)}")
        if len(parts) > 2 or (len(parts) == 2 and parts[1] not in LPR_TABLES):
            raise SqlRefused(f"{name} is not allowed: {_only(database)}")
        if parts[-1] in LPR_TABLES:
            tables.add(parts[-1])
        else:
            unknown.add(name)
    if unknown:
        existing = client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND has({names:Array(String)}, name) "
            "UNION ALL SELECT name FROM system.dictionaries WHERE database = {db:String} AND has({names:Array(String)}, name)",
            parameters={"db": database, "names": sorted(unknown)},
        ).result_rows
        if existing:
            raise SqlRefused(f"{existing[0][0]} is not allowed: {_only(database)}")
    return tuple(sorted(tables))
