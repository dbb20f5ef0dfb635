"""``:name`` placeholders, as the Aurora Data API takes them, rewritten for drivers
that want ``%(name)s`` (psycopg).  One definition, used by our psycopg transactions
and by the local Data API server, so SQL is written once in the Data API's style."""
from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'"""          # string literal
    r'''|"(?:[^"]|"")*"'''         # quoted identifier
    r"|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$"  # dollar-quoted body
    r"|--[^\n]*"                   # line comment
    r"|::"                         # cast, not a placeholder
    r"|:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|%",
    re.S,
)


def named_to_pyformat(sql: str) -> tuple[str, list[str]]:
    """Return the SQL with ``:name`` as ``%(name)s`` (and ``%`` doubled) plus the names
    in order of appearance."""
    names: list[str] = []

    def repl(m: re.Match) -> str:
        if m.group("name"):
            names.append(m.group("name"))
            return f"%({m.group('name')})s"
        if m.group(0) == "%":
            return "%%"
        return m.group(0)

    return _TOKEN.sub(repl, sql), names
