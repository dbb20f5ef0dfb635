"""Running Data API operations on PostgreSQL: connection pools, transactions, reaper.

A statement without ``transactionId`` runs on a pooled autocommit connection (its
own transaction, as on the service).  ``BeginTransaction`` pins one connection to
the new transaction until commit/rollback, so concurrent transactions are isolated
exactly as PostgreSQL isolates sessions.  A transaction left idle longer than
``transaction_timeout`` is rolled back by a reaper thread, like the service's
abandoned-transaction timeout (3 minutes).
"""
from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import results, sqlparams
from .errors import ApiError, BadRequest, DatabaseUnavailable, from_postgres, transaction_not_found

log = logging.getLogger(__name__)

# Session defaults of an Aurora PostgreSQL cluster that our output depends on.
SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres"
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024  # the service refuses larger results
RESPONSE_TOO_LARGE = "Database returned more than the allowed response size limit"


def connect(database_url: str, database: str | None) -> psycopg.Connection:
    """A new autocommit connection to ``database`` (default: the URL's) in the
    service's session settings, loading/dumping types the way results.py and
    sqlparams.py expect."""
    params = conninfo_to_dict(database_url)
    if database:
        params["dbname"] = database
    params["options"] = f"{params.get('options', '')} {SESSION_OPTIONS}".strip()
    try:
        conn = psycopg.connect(make_conninfo("", **params), autocommit=True, prepare_threshold=None,
                               cursor_factory=psycopg.RawCursor)
    except psycopg.Error as exc:
        raise _connect_error(exc, database) from None
    results.register_loaders(conn.adapters)
    sqlparams.register_dumpers(conn.adapters)
    return conn


def _connect_error(exc: psycopg.Error, database: str | None) -> ApiError:
    text = str(exc)
    if "does not exist" in text and database:
        return BadRequest(f'FATAL: database "{database}" does not exist; SQLState: 3D000')
    return DatabaseUnavailable(f"Database unavailable: {text.strip().splitlines()[0] if text.strip() else exc!r}")


class Pool:
    """Idle autocommit connections per database; handed out exclusively."""

    def __init__(self, database_url: str, max_idle: int = 8):
        self._url = database_url
        self._max_idle = max_idle
        self._idle: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._closed = False

    def get(self, database: str) -> psycopg.Connection:
        with self._lock:
            idle = self._idle[database]
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn
        return connect(self._url, database or None)

    def put(self, database: str, conn: psycopg.Connection) -> None:
        """Return a connection; one left inside a transaction or broken is closed.

        ``DISCARD ALL`` first, so a request's session state (SET, temp tables, session
        advisory locks, LISTEN) never leaks into an unrelated later request: on the
        service, too, consecutive calls need not share a session.
        """
        healthy = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE
        if healthy:
            try:
                conn.execute("DISCARD ALL")
            except psycopg.Error:
                healthy = False
        with self._lock:
            if healthy and not self._closed and len(self._idle[database]) < self._max_idle:
                self._idle[database].append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for q in self._idle.values() for c in q]
            self._idle.clear()
        for conn in conns:
            conn.close()


@dataclass
class Transaction:
    """An open transaction: its pinned connection, guarded by ``lock`` so only one
    request (or the reaper) uses it at a time."""

    id: str
    database: str
    conn: psycopg.Connection
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


@dataclass
class StatementResult:
    rows: list | None  # None: the statement returned no result set
    cols: list  # results.ColumnInfo
    rowcount: int
    table_meta: dict  # (table oid, attnum) -> catalog facts
    command: str = ""  # the server's command tag, e.g. "UPDATE 3"

    @property
    def records_updated(self) -> int:
        """Rows changed — 0 for queries, as the service reports."""
        verb = self.command.split(" ", 1)[0]
        return self.rowcount if verb in ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY") else 0


class Backend:
    """The operations, independent of HTTP."""

    def __init__(self, database_url: str, transaction_timeout: float = 180.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.database_url = database_url
        self.default_database = str(conninfo_to_dict(database_url).get("dbname") or "")
        self.transaction_timeout = transaction_timeout
        self.max_response_bytes = max_response_bytes
        self.pool = Pool(database_url)
        self._txs: dict[str, Transaction] = {}
        self._txs_lock = threading.Lock()
        self._type_names: dict[tuple[str, int], tuple[str, bool, str]] = {}
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="dataapi-reaper", daemon=True)

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._reaper.start()

    def close(self) -> None:
        """Stop the reaper, roll back every open transaction, close connections."""
        self._stop.set()
        with self._txs_lock:
            txs = list(self._txs.values())
            self._txs.clear()
        for tx in txs:
            with tx.lock:
                self._end(tx, "ROLLBACK", reuse=False)
        self.pool.close()

    @property
    def open_transactions(self) -> set[str]:
        """Ids of the transactions currently open (for tests and diagnostics)."""
        with self._txs_lock:
            return set(self._txs)

    def database(self, requested: str | None) -> str:
        return requested or self.default_database

    # --- transactions -------------------------------------------------------------
    def begin(self, database: str) -> str:
        conn = self.pool.get(database)
        try:
            conn.execute("BEGIN")
        except psycopg.Error as exc:
            conn.close()
            raise from_postgres(exc) from None
        tx = Transaction(secrets.token_urlsafe(48), database, conn)
        with self._txs_lock:
            self._txs[tx.id] = tx
        log.debug("began transaction %s on %s", tx.id[:12], database)
        return tx.id

    def commit(self, transaction_id: str) -> str:
        tx = self._take(transaction_id)
        with tx.lock:
            if tx.done:
                raise transaction_not_found(transaction_id)
            status = self._end(tx, "COMMIT")
        if status != "COMMIT":
            # PostgreSQL answers COMMIT of a failed transaction with ROLLBACK; say so
            # loudly rather than let a caller believe its writes are durable.
            raise BadRequest("ERROR: current transaction is aborted, commands ignored until end of "
                             "transaction block; SQLState: 25P02")
        return "Transaction Committed"

    def rollback(self, transaction_id: str) -> str:
        tx = self._take(transaction_id)
        with tx.lock:
            if tx.done:
                raise transaction_not_found(transaction_id)
            self._end(tx, "ROLLBACK")
        return "Rollback Complete"

    def _take(self, transaction_id: str) -> Transaction:
        with self._txs_lock:
            tx = self._txs.pop(transaction_id, None)
        if tx is None:
            raise transaction_not_found(transaction_id)
        return tx

    def _lookup(self, transaction_id: str) -> Transaction:
        with self._txs_lock:
            tx = self._txs.get(transaction_id)
        if tx is None:
            raise transaction_not_found(transaction_id)
        return tx

    def _end(self, tx: Transaction, command: str, reuse: bool = True) -> str | None:
        """COMMIT/ROLLBACK (caller holds tx.lock); returns the server's command tag."""
        tx.done = True
        try:
            cur = tx.conn.execute(command)
            status = cur.statusmessage
        except psycopg.Error as exc:
            tx.conn.close()
            raise from_postgres(exc) from None
        if reuse:
            self.pool.put(tx.database, tx.conn)
        else:
            tx.conn.close()
        return status

    def _reap_loop(self) -> None:
        interval = max(0.05, min(1.0, self.transaction_timeout / 5))
        while not self._stop.wait(interval):
            self.reap()

    def reap(self) -> None:
        """Roll back transactions idle for longer than the timeout (not busy ones)."""
        deadline = time.monotonic() - self.transaction_timeout
        with self._txs_lock:
            stale = [tx for tx in self._txs.values() if tx.last_used < deadline]
        for tx in stale:
            if not tx.lock.acquire(blocking=False):
                continue  # a request is using it right now: not abandoned
            try:
                if tx.done or tx.last_used >= deadline:
                    continue
                with self._txs_lock:
                    self._txs.pop(tx.id, None)
                log.info("rolling back abandoned transaction %s", tx.id[:12])
                try:
                    self._end(tx, "ROLLBACK", reuse=False)
                except ApiError:
                    pass
            finally:
                tx.lock.release()

    # --- statements -----------------------------------------------------------------
    def run(self, database: str, transaction_id: str | None, work):
        """Call ``work(conn)`` in the transaction, or on a pooled autocommit
        connection; psycopg errors become the service's BadRequestException."""
        if transaction_id:
            tx = self._lookup(transaction_id)
            with tx.lock:
                if tx.done:
                    raise transaction_not_found(transaction_id)
                try:
                    return work(tx.conn)
                except psycopg.Error as exc:
                    raise from_postgres(exc) from None
                finally:
                    tx.last_used = time.monotonic()
                    if tx.conn.closed:
                        self._drop(tx)
        conn = self.pool.get(database)
        try:
            return work(conn)
        except psycopg.Error as exc:
            raise from_postgres(exc) from None
        finally:
            self.pool.put(database, conn)

    def _drop(self, tx: Transaction) -> None:
        tx.done = True
        with self._txs_lock:
            self._txs.pop(tx.id, None)

    def execute(self, conn: psycopg.Connection, sql: str, parameters: list | None,
                with_metadata: bool) -> StatementResult:
        compiled = sqlparams.compile_named(sql)
        values = sqlparams.decode_parameters(parameters)
        cur = conn.cursor()
        if compiled.names:
            cur.execute(compiled.sql, sqlparams.bind(compiled, values))
        else:
            cur.execute(compiled.sql)
        return self._collect(cur, conn, with_metadata)

    def execute_batch(self, conn: psycopg.Connection, sql: str, parameter_sets: list) -> int:
        """Every parameter set, atomically when outside a transaction."""
        compiled = sqlparams.compile_named(sql)
        batches = [sqlparams.bind(compiled, sqlparams.decode_parameters(p)) for p in parameter_sets]
        own_tx = conn.info.transaction_status == pq.TransactionStatus.IDLE
        cur = conn.cursor()
        if own_tx:
            cur.execute("BEGIN")
        try:
            if not batches:
                cur.execute(compiled.sql)
            elif compiled.names:
                cur.executemany(compiled.sql, batches)
            else:
                for _ in batches:
                    cur.execute(compiled.sql)
        except BaseException:
            if own_tx and not conn.closed:
                conn.execute("ROLLBACK")
            raise
        if own_tx:
            cur.execute("COMMIT")
        return len(batches)

    def _collect(self, cur, conn, with_metadata: bool) -> StatementResult:
        rowcount, command = max(cur.rowcount, 0), cur.statusmessage or ""
        if cur.description is None:
            return StatementResult(None, [], rowcount, {}, command)
        cols = self._columns(cur, conn)
        rows = cur.fetchall()
        table_meta = self._table_metadata(conn, cols) if with_metadata else {}
        return StatementResult(rows, cols, rowcount, table_meta, command)

    def execute_script(self, conn: psycopg.Connection, sql: str) -> list[StatementResult]:
        """Several ``;``-separated statements without parameters (ExecuteSql)."""
        cur = conn.cursor()
        cur.execute(sql)
        out = [self._collect(cur, conn, True)]
        while cur.nextset():
            out.append(self._collect(cur, conn, True))
        return out

    def _columns(self, cur, conn) -> list:
        res = cur.pgresult
        database = conn.info.dbname
        cols = []
        for i, desc in enumerate(cur.description):
            name, is_array, elem = self._type_name(conn, database, desc.type_code)
            cols.append(results.ColumnInfo(desc.name, desc.type_code, name, is_array, elem,
                                           res.fmod(i), res.ftable(i), res.ftablecol(i)))
        return cols

    def _type_name(self, conn, database: str, oid: int) -> tuple[str, bool, str]:
        known = results.builtin_type_name(oid) or self._type_names.get((database, oid))
        if known:
            return known
        row = conn.execute(
            "SELECT t.typname, t.typelem <> 0 AND t.typlen = -1, coalesce(e.typname, t.typname)"
            " FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem WHERE t.oid = $1",
            [oid]).fetchone()
        found = (row[0], bool(row[1]), row[2]) if row else ("unknown", False, "unknown")
        self._type_names[(database, oid)] = found
        return found

    @staticmethod
    def _table_metadata(conn, cols) -> dict:
        """Nullability, table/schema name and identity/serial-ness of table columns
        (what PgJDBC's ResultSetMetaData reports), in one catalog query."""
        keys = sorted({(c.table_oid, c.table_col) for c in cols if c.table_oid})
        if not keys:
            return {}
        rows = conn.execute(
            "SELECT k.rel, k.att, a.attnotnull, c.relname, n.nspname,"
            " a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)"
            " FROM unnest($1::oid[], $2::int2[]) AS k(rel, att)"
            " JOIN pg_attribute a ON a.attrelid = k.rel AND a.attnum = k.att"
            " JOIN pg_class c ON c.oid = k.rel JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attrdef d ON d.adrelid = k.rel AND d.adnum = k.att",
            [[k[0] for k in keys], [k[1] for k in keys]]).fetchall()
        return {(r[0], r[1]): {"nullable": 0 if r[2] else 1, "tableName": r[3], "schemaName": r[4],
                               "isAutoIncrement": bool(r[5])} for r in rows}
