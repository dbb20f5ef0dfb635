"""Helpers the pipeline tests share (a module of its own: ``conftest`` is not a name
to import from when several test folders have one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# every account make_accounts created in this process, in order: a failed test's open
# orders are cancelled at its teardown (tests/pipeline/conftest.py, leave_no_orders)
MADE_ACCOUNTS: list[int] = []


def make_accounts(n: int, deposits: dict[str, str], tag: str | None = None) -> list[int]:
    from chalicelib import admin
    from chalicelib.accounts import ensure_account
    from chalicelib.db import transaction

    tag = tag or uuid.uuid4().hex[:6]
    ids = []
    for i in range(n):
        with transaction() as tx:
            acct = ensure_account(tx, f"u{tag}{i}@test.local")
        for asset, amount in deposits.items():
            admin.deposit(acct.account_id, asset, Decimal(amount), transfer_id=f"dep-{tag}-{i}-{asset}")
        ids.append(acct.account_id)
        MADE_ACCOUNTS.append(acct.account_id)
    return ids


class MatcherProcess:
    """``python -m matcher`` (or ``module``, e.g. ``matcher.instrumented`` for fault
    injection) as a child process with the session's environment.  It logs at INFO
    (``MATCHER_LOG_LEVEL``, unless ``extra`` says otherwise) to ``log_path``; every
    incarnation of a worker id appends to the same file, and each start, kill, pause,
    resume and stop is marked there with the pid, so a failure's log says which
    process did what."""

    def __init__(self, env: dict, worker_id: str, log_path: Path, extra: dict | None = None,
                 module: str = "matcher"):
        self.env = {**os.environ, **env, "MATCHER_LOG_LEVEL": "INFO", "MATCHER_WORKER_ID": worker_id,
                    **(extra or {})}
        self.worker_id = worker_id
        self.module = module
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.paused = False

    def _mark(self, what: str) -> None:
        pid = self.proc.pid if self.proc is not None else None
        stamp = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        with open(self.log_path, "a") as fh:
            fh.write(f"=== {stamp} test: {what} {self.worker_id} pid {pid}\n")

    def start(self) -> MatcherProcess:
        fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], cwd=str(ROOT), env=self.env,
                                     stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        self._mark("started")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self._mark("SIGKILL")
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        self._mark("SIGSTOP")
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self._mark("SIGCONT")
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def terminate(self, timeout: float = 15) -> int | None:
        """SIGTERM (a clean stop: leases released), SIGKILL after ``timeout`` s; the
        exit code.  A paused (SIGSTOPped) process is continued first: it would keep
        SIGTERM pending until then."""
        if self.proc is None:
            return None
        if self.alive():
            self._mark("SIGTERM")
            self.proc.send_signal(signal.SIGTERM)
            self.proc.send_signal(signal.SIGCONT)
            self.paused = False
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._mark(f"SIGKILL (no exit {timeout:.0f} s after SIGTERM)")
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def describe(self, tail: int = 8) -> str:
        """pid, state, and the last lines of the log (for a timeout's message)."""
        if self.proc is None:
            state = "never started"
        elif self.alive():
            state = "PAUSED (SIGSTOP)" if self.paused else "alive"
        else:
            state = f"exited {self.proc.returncode}"
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-tail:]
        except OSError:
            lines = []
        pid = self.proc.pid if self.proc is not None else None
        return "\n".join([f"  {self.worker_id} pid {pid}: {state} ({self.log_path})",
                          *(f"    | {line[:400]}" for line in lines)])


def wait_until(check, timeout: float, what: str, every: float = 0.2, explain=None):
    """Poll ``check`` until it returns something true (returned).  On a timeout the
    AssertionError says what was awaited and, with ``explain`` (a callable returning
    text, e.g. :func:`pipeline_state`), what was still pending then."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    msg = f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})"
    if explain is not None:
        try:
            msg += "\n" + explain()
        except Exception as exc:  # the state could not be read: say so, keep the timeout
            msg += f"\n(state not available: {exc!r})"
    raise AssertionError(msg)


def pipeline_state(pg_url: str, procs=(), limit: int = 15) -> str:
    """What a pipeline test may be waiting for, as text: the orders still PENDING_NEW
    and the outbox rows not acknowledged (oldest first, with their age), the symbol,
    slot and shard leases (owner, fencing token, expiry), and each matcher process
    (pid, alive / paused / exit code, the end of its log)."""
    import psycopg

    out = []
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT o.order_id, o.client_order_id, o.symbol, o.side, o.type, o.order_list_id,"
            " CAST(extract(epoch FROM now() - o.created_at) AS int) FROM orders o WHERE o.status = 'PENDING_NEW'"
            " AND (o.order_list_id IS NULL OR o.order_id = (SELECT min(x.order_id) FROM orders x"
            " WHERE x.order_list_id = o.order_list_id)) ORDER BY o.order_id LIMIT %s", (limit,)).fetchall()
        n = conn.execute("SELECT count(*) FROM orders WHERE status = 'PENDING_NEW'").fetchone()[0]
        out.append(f"orders PENDING_NEW: {n} (lists' held-back orders included); first {len(rows)} that hold:")
        out += [f"  order {r[0]} {r[1]} {r[2]} {r[3]} {r[4]} list={r[5]} age={r[6]}s" for r in rows]
        rows = conn.execute(
            "SELECT intent_id, kind, symbol, order_id, CAST(extract(epoch FROM now() - created_at) AS int)"
            " FROM intent_outbox WHERE sent_at IS NULL ORDER BY created_at LIMIT %s", (limit,)).fetchall()
        n = conn.execute("SELECT count(*) FROM intent_outbox WHERE sent_at IS NULL").fetchone()[0]
        out.append(f"outbox rows not acknowledged: {n}; oldest {len(rows)}:")
        out += [f"  {r[0]} {r[1]} {r[2]} order={r[3]} age={r[4]}s" for r in rows]
        rows = conn.execute("SELECT symbol, last_seq, fencing_token FROM settlement_progress ORDER BY 1").fetchall()
        out.append("settlement progress: " + ", ".join(f"{r[0]} seq={r[1]} token={r[2]}" for r in rows))
    try:
        from chalicelib.tables import LeaseModel

        now = int(time.time() * 1000)
        leases = sorted(LeaseModel.scan(), key=lambda x: x.lease_key)
        out.append("leases (owner, fencing token, expiry):")
        out += [f"  {x.lease_key}: {x.owner} #{x.counter} "
                + (f"expires in {int(x.expires_ms) - now} ms" if x.expires_ms else "released")
                + (f" checkpoint={x.checkpoint}" if x.checkpoint else "") for x in leases
                if not x.lease_key.startswith("route:")]
    except Exception as exc:
        out.append(f"leases not readable: {exc!r}")
    out.append("matcher processes:")
    out += [p.describe() for p in procs]
    return "\n".join(out)


def pending_count(pg_url: str) -> int:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        # (an order list's pending orders stay PENDING_NEW, held back by the engine, once
        # the list is sequenced: only a list's first order says whether it is)
        return conn.execute("SELECT count(*) FROM orders o WHERE o.status = 'PENDING_NEW' AND (o.order_list_id IS NULL"
                            " OR o.order_id = (SELECT min(x.order_id) FROM orders x"
                            " WHERE x.order_list_id = o.order_list_id))").fetchone()[0] + \
            conn.execute("SELECT count(*) FROM intent_outbox WHERE sent_at IS NULL").fetchone()[0]


def assert_invariants(pg_url: str) -> dict:
    """Conservation per asset, executed qty == sum of fills per order, reservations
    consistent, no trade twice; returns a few figures."""
    import psycopg

    from chalicelib.db import PgTx
    from chalicelib.ledger import totals
    from tests.invariants import unexplained_locks

    with psycopg.connect(pg_url) as conn:
        tx = PgTx(conn)
        for asset, t in totals(tx).items():
            assert t["held"] == t["external_in"], \
                f"{asset}: held {t['held']} != deposits-withdrawals {t['external_in']}"
        bad = tx.query(
            "SELECT o.order_id, o.executed_qty, COALESCE(f.q, 0) AS filled FROM orders o LEFT JOIN ("
            " SELECT order_id, sum(qty) AS q FROM (SELECT buyer_order_id AS order_id, qty FROM trades UNION ALL"
            " SELECT seller_order_id, qty FROM trades) x GROUP BY order_id) f ON f.order_id = o.order_id"
            " WHERE o.executed_qty <> COALESCE(f.q, 0)")
        assert not bad, f"executed qty != sum of fills: {bad[:5]}"
        # every open order's reservation is still locked; closed orders hold nothing
        leftover = tx.query("SELECT order_id, status, reserved_left FROM orders WHERE reserved_left <> 0"
                            " AND status IN ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'EXPIRED_IN_MATCH')")
        assert not leftover, f"closed orders still hold reservations: {leftover[:5]}"
        # locked = what open orders reserve + what pending withdrawals hold (named entry by entry)
        locks = unexplained_locks(tx)
        assert not locks, "locked balances != open reservations + pending withdrawals:\n" + "\n".join(locks)
        dup = tx.query("SELECT symbol, trade_id, count(*) FROM trades GROUP BY 1, 2 HAVING count(*) > 1")
        assert not dup
        n_trades = tx.scalar("SELECT count(*) FROM trades")
        n_orders = tx.scalar("SELECT count(*) FROM orders")
    return {"trades": n_trades, "orders": n_orders}


def cancel_all(accounts: list[int], timeout: float = 90, explain=None) -> None:
    """Cancel every open order of ``accounts`` and wait until none is left, so that a
    load test leaves no resting orders behind for the tests that run after it
    (``explain``: as for :func:`wait_until`)."""
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    for account in accounts:
        for o in orders.open_orders(account):
            try:
                orders.cancel_order(account, o["symbol"], o["orderId"], None, wait_s=0)
            except ExchangeError:
                pass  # filled or cancelled meanwhile
    wait_until(lambda: not any(orders.open_orders(a) for a in accounts), timeout, "every open order cancelled",
               explain=explain)
