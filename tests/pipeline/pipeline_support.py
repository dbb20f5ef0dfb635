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
    return ids


class MatcherProcess:
    """``python -m matcher`` (or ``module``, e.g. ``matcher.instrumented`` for fault
    injection) as a child process with the session's environment."""

    def __init__(self, env: dict, worker_id: str, log_path: Path, extra: dict | None = None,
                 module: str = "matcher"):
        self.env = {**os.environ, **env, "MATCHER_WORKER_ID": worker_id, **(extra or {})}
        self.module = module
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> MatcherProcess:
        fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], cwd=str(ROOT), env=self.env,
                                     stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 15) -> int | None:
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wait_until(check, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


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


def cancel_all(accounts: list[int], timeout: float = 90) -> None:
    """Cancel every open order of ``accounts`` and wait until none is left, so that a
    load test leaves no resting orders behind for the tests that run after it."""
    from chalicelib import orders
    from chalicelib.errors import ExchangeError

    for account in accounts:
        for o in orders.open_orders(account):
            try:
                orders.cancel_order(account, o["symbol"], o["orderId"], None, wait_s=0)
            except ExchangeError:
                pass  # filled or cancelled meanwhile
    wait_until(lambda: not any(orders.open_orders(a) for a in accounts), timeout, "every open order cancelled")
