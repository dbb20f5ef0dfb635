"""``:name`` placeholders, as the Aurora Data API takes them, compiled to
PostgreSQL's native ``$n`` ones.  One definition, used by our direct psycopg
transactions (``chalicelib.db.PgTx``) and by the local Data API server, so SQL is
written once in the Data API's style and parsed the same way everywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class CompiledSql:
    """SQL rewritten to ``$n`` placeholders; ``names[i]`` feeds ``$(i+1)``."""

    sql: str
    names: tuple[str, ...]


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


_CACHE_MAX_CHARS = 16_384


def compile_named(sql: str) -> CompiledSql:
    """Replace ``:name`` placeholders outside literals/comments/identifiers by ``$n``.

    ``::type`` casts, ``'..'``/``E'..'`` strings, ``"quoted"`` identifiers,
    ``$tag$..$tag$`` bodies and ``--``/``/* */`` comments pass through untouched.

    The tokenizer walks the text a character at a time in Python (~0.5 ms for the
    order entry statement), and the hot statements repeat verbatim with new
    parameters, so results are memoized (a pure function of the text; CompiledSql is
    immutable).  Very long texts -- big generated multi-row statements, rarely
    repeated -- are compiled without being kept.
    """
    if len(sql) <= _CACHE_MAX_CHARS:
        return _compile_cached(sql)
    return _compile(sql)


@lru_cache(maxsize=512)
def _compile_cached(sql: str) -> CompiledSql:
    return _compile(sql)


# Text with no comment, dollar-quoted body or backslash cannot hide a placeholder
# anywhere but in '..' and ".." (a doubled quote inside one is two adjacent
# literals here: same result), so one regex pass does: ~50x faster than the
# character walk on the matcher's big multi-row statements.  A quote the pass finds
# unpaired (the last group: counting quotes is not enough, a '"' inside '..' pairs
# nothing) sends the text to the walk, which knows what an unterminated one hides.
_SIMPLE = re.compile(r"'[^']*'|\"[^\"]*\"|::|:([A-Za-z_][A-Za-z0-9_]*)|(['\"])")


def _compile(sql: str) -> CompiledSql:
    if "$" in sql or "--" in sql or "/*" in sql or "\\" in sql:
        return _compile_walk(sql)
    index: dict[str, int] = {}
    unpaired = []

    def sub(m: re.Match) -> str:
        if m.group(2) is not None:
            unpaired.append(m.start())
            return m.group()
        name = m.group(1)
        if name is None:
            return m.group()
        n = index.get(name)
        if n is None:
            n = index[name] = len(index) + 1
        return f"${n}"

    compiled = _SIMPLE.sub(sub, sql)
    return _compile_walk(sql) if unpaired else CompiledSql(compiled, tuple(index))


def _compile_walk(sql: str) -> CompiledSql:
    out: list[str] = []
    names: list[str] = []
    index: dict[str, int] = {}
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            end = _skip_string(sql, i, _backslash_escapes(sql, i))
        elif ch == '"':
            end = _skip_quoted(sql, i, '"')
        elif ch == "-" and sql.startswith("--", i):
            nl = sql.find("\n", i)
            end = n if nl < 0 else nl + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = _skip_block_comment(sql, i)
        elif ch == "$" and (i == 0 or not _is_ident_char(sql[i - 1])) and (m := _DOLLAR_TAG.match(sql, i)):
            close = sql.find(m.group(), m.end())
            end = n if close < 0 else close + len(m.group())
        elif ch == ":" and sql.startswith("::", i):
            end = i + 2
        elif ch == ":" and (m := _NAME.match(sql, i + 1)):
            name = m.group()
            if name not in index:
                names.append(name)
                index[name] = len(names)
            out.append(f"${index[name]}")
            i = m.end()
            continue
        else:
            end = i + 1
        out.append(sql[i:end])
        i = end
    return CompiledSql("".join(out), tuple(names))


def _backslash_escapes(sql: str, quote: int) -> bool:
    """True for an ``E'...'`` string, where backslash escapes the quote."""
    return quote > 0 and sql[quote - 1] in "eE" and (quote < 2 or not _is_ident_char(sql[quote - 2]))


def _skip_string(sql: str, start: int, backslash: bool) -> int:
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == "'":
            if i + 1 < n and sql[i + 1] == "'":
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    i, n = start + 1, len(sql)
    while i < n:
        if sql[i] == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql: str, start: int) -> int:
    """PostgreSQL block comments nest."""
    depth, i, n = 0, start, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
