"""Transactions against Aurora PostgreSQL, through the Data API or a direct connection.

Domain code (accounts, ledger, orders) takes a :class:`Tx` and writes SQL once, with
``:name`` placeholders as the Data API wants them.  Lambdas get a Tx over
``aurora_data_api`` (HTTP to the Data API, no connection pool to exhaust); the
long-lived matcher, migrations and tests may use a direct psycopg connection.  Both
commit on success and roll back on any exception.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.sqlparams import compile_named

if TYPE_CHECKING:
    import psycopg

CHECK_VIOLATION = "23514"  # SQLSTATE of a failed CHECK constraint


class Tx:
    """One open transaction: run statements, get rows back as tuples or dicts.
    Subclasses only say how one statement runs (``_run`` returns a DB-API cursor)."""

    rowcount: int = -1

    def __init__(self, conn):
        self.conn = conn

    def _run(self, sql: str, params: Mapping[str, Any] | None):
        raise NotImplementedError

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        cur = self._run(sql, params)
        self.rowcount = cur.rowcount
        return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        cur = self._run(sql, params)
        self.rowcount = cur.rowcount
        if not cur.description:
            return []
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def row(self, sql: str, params: Mapping[str, Any] | None = None) -> dict:
        """The first row of a statement that always returns one (``INSERT ... ON
        CONFLICT DO UPDATE ... RETURNING``, an aggregate, a row the caller holds a
        reference to); a LookupError if it returned none -- a bug, not an outcome."""
        row = self.one(sql, params)
        if row is None:
            raise LookupError(f"no row from a statement that always returns one: {sql[:80]!r}")
        return row

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.execute(sql, params)
        return rows[0][0] if rows else None


class DataApiTx(Tx):
    """A transaction over ``aurora_data_api`` (one Data API transaction id)."""

    def _run(self, sql, params):
        cur = self.conn.cursor()
        cur.execute(sql, dict(params) if params else None)
        return cur


class PgTx(Tx):
    """A transaction over a psycopg 3 connection: ``:name`` compiled to ``$n`` and sent
    with a raw cursor, as the local Data API does."""

    _pipelined = False

    @contextmanager
    def pipeline(self) -> Iterator[PgTx]:
        """Statements sent inside go out without waiting for each other's answers
        (psycopg's pipeline mode): one round trip for all of them, synced when the
        block ends, where an error of any of them is raised.  Inside, use :meth:`send`
        and read its cursor after the block (``execute``/``query`` would see no rows
        yet, so they refuse)."""
        self._pipelined = True
        try:
            with self.conn.pipeline():
                yield self
        finally:
            self._pipelined = False

    def send(self, sql: str, params: Mapping[str, Any] | None = None):
        """Run ``sql``; its cursor, unread (inside :meth:`pipeline`: readable after it)."""
        return self._run(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        if self._pipelined:
            raise RuntimeError("a pipelined transaction's rows come after the pipeline: use send()")
        return super().execute(sql, params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        if self._pipelined:
            raise RuntimeError("a pipelined transaction's rows come after the pipeline: use send()")
        return super().query(sql, params)

    def _run(self, sql, params):
        from psycopg import RawCursor

        cur = RawCursor(self.conn)
        if params:
            compiled = compile_named(sql)
            cur.execute(compiled.sql, [params[name] for name in compiled.names], prepare=False)
        else:
            cur.execute(sql, prepare=False)
        return cur


def array_literal(values) -> str:
    """``values`` as one PostgreSQL array literal (None -> NULL) for ``CAST(:p AS type[])``:
    a single string parameter, where a list would be adapted element by element in
    Python (psycopg's list dumper: ~10 % of a big settlement batch's CPU).

    A settlement batch builds a few dozen of these over thousands of values, and one
    Python step per value was still the largest part of settle's own CPU
    (bench/capacity.py): so a column of one kind -- ints, Decimals, booleans, strings
    that need no escaping, with or without NULLs -- is joined in C (``str.join``), and
    only anything else goes value by value (:func:`_array_literal_each`, the
    reference; tests/chalicelib/test_array_literal.py checks both give the same text)."""
    vals = values if values.__class__ is list or values.__class__ is tuple else list(values)
    if not vals:
        return "{}"
    kinds = set(map(type, vals))
    nulls = _NONE in kinds
    if nulls:
        kinds.discard(_NONE)
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is int:  # digits and a sign: nothing to quote (most ids and counters)
            if not nulls:
                return "{" + ",".join(map(str, vals)) + "}"
            return "{" + ",".join(["NULL" if v is None else str(v) for v in vals]) + "}"
        if kind in _NEVER_ESCAPED or (kind is str and _plain("".join([v for v in vals if v is not None])
                                                         if nulls else "".join(vals))):
            if not nulls:
                return '{"' + '","'.join(map(str, vals)) + '"}'
            return "{" + ",".join(["NULL" if v is None else f'"{v!s}"' for v in vals]) + "}"
    elif not kinds:
        return "{" + ",".join(["NULL"] * len(vals)) + "}"
    return _array_literal_each(vals)


_NONE = type(None)
# types whose str() never holds a double quote or a backslash (quoted as they are)
_NEVER_ESCAPED = frozenset({Decimal, bool})


def _plain(text: str) -> bool:
    return '"' not in text and "\\" not in text


def _array_literal_each(values) -> str:
    """:func:`array_literal` one value at a time: any mix of types."""
    parts: list[str] = []
    append = parts.append
    for v in values:
        if v is None:
            append("NULL")
        elif v.__class__ is int:
            append(str(v))
        else:
            s = str(v)
            if '"' in s or "\\" in s:
                s = s.replace("\\", "\\\\").replace('"', '\\"')
            append(f'"{s}"')
    return "{" + ",".join(parts) + "}"


def data_api_connection(clients=None):
    """A DB-API connection to Aurora through the Data API, per the settings."""
    import aurora_data_api

    from chalicelib.clients import get_clients

    clients = clients or get_clients()
    s = clients.settings
    return aurora_data_api.connect(aurora_cluster_arn=s.db_cluster_arn, secret_arn=s.db_secret_arn,
                                   database=s.db_name, rds_data_client=clients.rds_data)


@contextmanager
def transaction(clients=None) -> Iterator[Tx]:
    """A Data API transaction: commit on success, roll back on any exception.  Three
    calls at least (Begin + statements + Commit): for writes of more than one
    statement that must commit together.  A read, or a single-statement write, goes
    through :func:`autocommit` (one call per statement)."""
    conn = data_api_connection(clients)
    try:
        yield DataApiTx(conn)
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


class _JsonResult:
    """The cursor face (description, rowcount, fetchall) of an ExecuteStatement
    response whose records came as JSON (``formatRecordsAs="JSON"``)."""

    class _Col(str):
        @property
        def name(self) -> str:
            return str(self)

    def __init__(self, resp: dict):
        import json

        self.rowcount = resp.get("numberOfRecordsUpdated", -1)
        records = json.loads(resp["formattedRecords"]) if "formattedRecords" in resp else []
        self.description = [self._Col(k) for k in records[0]] if records else None
        self._rows = [tuple(r.values()) for r in records]

    def fetchall(self) -> list[tuple]:
        return self._rows


class DataApiAutocommit(Tx):
    """Statements sent *without* a transaction id: the Data API runs each one as its
    own transaction and commits it (or rolls all of it back on an error).  One HTTP
    call per statement instead of BeginTransaction + statement + CommitTransaction.

    For a unit of work that is one statement (a single INSERT ... or a
    data-modifying ``WITH``), and for reads: two statements through this are two
    transactions, which a read only notices if it needs a snapshot across them.

    Records come back as JSON (``formatRecordsAs``) without result metadata: the
    service then skips the per-column catalog lookups ``aurora_data_api`` asks for
    (``includeResultMetadata``), and the client parses one JSON string instead of a
    typed structure per field.  Values: numbers as JSON numbers, NUMERIC as strings
    (``decimalReturnType`` STRING, so money never passes through a float), NULL as
    null -- callers read amounts with ``Decimal(str(v))`` either way."""

    def __init__(self, clients=None):
        from aurora_data_api import AuroraDataAPICursor

        from chalicelib.clients import get_clients

        clients = clients or get_clients()
        s = clients.settings
        self._client = clients.rds_data
        self._base = {"resourceArn": s.db_cluster_arn, "secretArn": s.db_secret_arn, "database": s.db_name,
                      "formatRecordsAs": "JSON", "resultSetOptions": {"decimalReturnType": "STRING"}}
        self._param = AuroraDataAPICursor().prepare_param  # the same parameter typing as DataApiTx
        super().__init__(None)

    def _run(self, sql, params):
        kw = dict(self._base, sql=sql)
        if params:
            kw["parameters"] = [self._param(k, v) for k, v in params.items()]
        return _JsonResult(self._client.execute_statement(**kw))


def autocommit(clients=None) -> Tx:
    """A :class:`DataApiAutocommit` (each statement its own committed transaction):
    the Lambdas' path for reads and single-statement writes."""
    return DataApiAutocommit(clients)


@contextmanager
def pg_transaction(conn) -> Iterator[Tx]:
    """A transaction on a direct psycopg connection (autocommit off)."""
    try:
        yield PgTx(conn)
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


class PgTxFactory:
    """``with factory() as tx:`` over one lazily (re)opened psycopg connection — for
    long-lived loops (reconciler, jobs) that must survive a dropped connection."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.conn: psycopg.Connection | None = None

    @contextmanager
    def __call__(self) -> Iterator[Tx]:
        import psycopg

        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.database_url, autocommit=False)
        conn = self.conn
        try:
            with conn.transaction():
                yield PgTx(conn)
        except psycopg.OperationalError:
            self.reset()
            raise

    def reset(self) -> None:
        import psycopg

        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg.Error:  # closing a connection that already broke: nothing left to release
                pass
        self.conn = None


# -- what a failed statement violated, whichever driver ran it ------------------------------
@dataclass(frozen=True)
class Violation:
    """The SQLSTATE of a failed statement and the constraint it names (if any)."""

    sqlstate: str
    constraint: str | None


# The Data API reports a PostgreSQL error only as text in PgJDBC's format,
# ``ERROR: <message>[\n  Detail: ...]; SQLState: XXXXX``, with the constraint quoted
# in the message: these two patterns read exactly those fields.
_SQLSTATE = re.compile(r"; SQLState: ([0-9A-Z]{5})$")
_CONSTRAINT = re.compile(r'violates (?:check|foreign key|unique|exclusion|not-null) constraint "([^"]+)"')


def violation(exc: BaseException) -> Violation | None:
    """The :class:`Violation` behind ``exc`` if it is a database's refusal of a
    statement: a psycopg error (SQLSTATE and constraint from its diagnostics), or a
    Data API BadRequestException -- raw from boto3 (``autocommit``) or wrapped by
    ``aurora_data_api`` (``transaction``); None for anything else (outages, bugs)."""
    from botocore.exceptions import ClientError

    try:
        import psycopg
    except ImportError:  # Lambdas talk to the Data API only
        pass
    else:
        if isinstance(exc, psycopg.Error):
            return Violation(exc.sqlstate, exc.diag.constraint_name) if exc.sqlstate else None
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__  # aurora_data_api raises its DatabaseError from the ClientError
    if cause is None or cause.response.get("Error", {}).get("Code") != "BadRequestException":
        return None
    message = cause.response["Error"].get("Message", "")
    state = _SQLSTATE.search(message)
    if state is None:
        return None
    constraint = _CONSTRAINT.search(message)
    return Violation(state.group(1), constraint.group(1) if constraint else None)
