"""Versioned SQL migrations, applied in order, each exactly once.

The same runner serves the local stack and the tests (a psycopg connection to
PostgreSQL) and operators (an ``aurora_data_api`` connection to Aurora through the
Data API): both are DB-API 2.0 connections.  Each migration runs in one transaction
together with the row that records its version, under an advisory lock, so two
runners racing each other apply it once and a failed migration leaves nothing behind.
The Data API runs one statement per call, so files are split into statements here.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_ID = 0x45584348  # "EXCH": advisory lock held while migrating


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> list[str]:
    """Split SQL text on top-level semicolons, respecting quotes, dollar-quoted
    bodies and comments (enough for our own migration files)."""
    out, buf, i, n = [], [], 0, len(sql)
    dollar: str | None = None
    while i < n:
        c = sql[i]
        if dollar:
            if sql.startswith(dollar, i):
                buf.append(dollar)
                i += len(dollar)
                dollar = None
            else:
                buf.append(c)
                i += 1
            continue
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            buf.append("\n")
            continue
        if c == "'":
            j = i + 1
            while j < n:
                if sql[j] == "'" and not sql.startswith("''", j):
                    break
                j += 2 if sql.startswith("''", j) else 1
            buf.append(sql[i : j + 1])
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if m:
                dollar = m.group(0)
                buf.append(dollar)
                i += len(dollar)
                continue
        if c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.iterdir()):
        m = _FILE.match(path.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), tuple(split_statements(path.read_text()))))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {directory}")
    return found


BOOTSTRAP = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


def _scalar_rows(cur) -> list[tuple]:
    return [tuple(r) for r in cur.fetchall()]


def migrate(conn, migrations: Iterable[Migration] | None = None,
            progress: Callable[[Migration], None] | None = None) -> list[int]:
    """Apply pending migrations on a DB-API connection (autocommit off); return the
    versions applied now.  Safe to call any number of times, also concurrently."""
    migrations = list(discover() if migrations is None else migrations)
    cur = conn.cursor()
    cur.execute(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
    cur.execute(BOOTSTRAP)
    conn.commit()
    applied_now = []
    for mig in migrations:
        cur = conn.cursor()
        cur.execute(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
        cur.execute(f"SELECT 1 FROM schema_migrations WHERE version = {int(mig.version)}")
        if _scalar_rows(cur):
            conn.rollback()
            continue
        if progress:
            progress(mig)
        try:
            for stmt in mig.statements:
                cur.execute(stmt)
            name = mig.name.replace("'", "")
            cur.execute(f"INSERT INTO schema_migrations (version, name) VALUES ({int(mig.version)}, '{name}')")
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        applied_now.append(mig.version)
    return applied_now


def applied_versions(conn) -> list[int]:
    cur = conn.cursor()
    cur.execute("SELECT version FROM schema_migrations ORDER BY version")
    rows = [r[0] for r in _scalar_rows(cur)]
    conn.commit()
    return rows
