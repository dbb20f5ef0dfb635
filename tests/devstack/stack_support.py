"""The local stack as a user runs it (``python -m devstack up`` in a scratch state dir),
for the supervision and restart tests: start, wait until ready, read its state, stop it
the way Ctrl-C does, and talk to it as a bot (API keys made with the operator CLI)."""
from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, state_dir: Path, port: int, env: dict, args: tuple[str, ...] = ()):
        self.dir, self.port, self.env, self.args = state_dir, port, env, args
        self.proc: subprocess.Popen | None = None
        self.out = state_dir / "up.out"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 120) -> Stack:
        """``up`` in the background (its output to ``up.out``); returns once it is up."""
        with open(self.out, "ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "devstack", "--state-dir", str(self.dir), "up",
                                          "--port", str(self.port), *self.args], cwd=ROOT, env=self.env,
                                         stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state and state.get("pid") == self.proc.pid and state.get("status") == "running":
                return self
            assert self.proc.poll() is None, f"up exited with {self.proc.returncode}:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"the stack did not come up within {timeout:.0f} s:\n{self.output()}")

    def interrupt(self, timeout: float = 60) -> int:
        """Stop the stack the way Ctrl-C does (SIGINT to ``up``); its exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(self.dir), "down"], cwd=ROOT,
                           env=self.env, capture_output=True, timeout=90)
            self.proc.wait(60)

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    # -- what runs ----------------------------------------------------------------------
    def state(self) -> dict | None:
        from devstack.stack import read_state

        return read_state(self.dir)

    def status(self) -> dict:
        """``status --json``, in this process (it only reads the state file and probes URLs)."""
        from devstack.stack import status

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            status(self.dir, as_json=True)
        return json.loads(buf.getvalue())

    def pid(self, name: str) -> int:
        return self.state()["processes"][name]["pid"]

    @property
    def database_url(self) -> str:
        return self.state()["env"]["DATABASE_URL"]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def client(self, user: str):
        """A bot's client for ``user``, with a fresh API key made by the operator CLI."""
        from devstack.binance_client import BinanceClient

        env = {k: v for k, v in self.env.items() if k != "EXCHANGE_STAGE"}
        res = subprocess.run([sys.executable, "-m", "chalicelib.cli", "--json", "create-api-key", user], cwd=ROOT,
                             env=dict(env, EXCHANGE_STATE_DIR=str(self.dir)), capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        key = json.loads(res.stdout)
        return BinanceClient(self.api_url, key["apiKey"], key["secretKey"], timeout=15)


# -- talking to it ---------------------------------------------------------------------
def get_order(client, symbol: str, order_id: int) -> dict:
    return client.request("GET", "/v3/order", {"symbol": symbol, "orderId": order_id}, signed=True)


def wait_status(client, symbol: str, order_id: int, statuses: set[str], timeout: float = 20) -> dict:
    """The order once its status is one of ``statuses`` (the matcher got to it)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = get_order(client, symbol, order_id)
        except Exception as exc:
            last = repr(exc)
        if isinstance(last, dict) and last["status"] in statuses:
            return last
        time.sleep(0.2)
    raise AssertionError(f"order {symbol} {order_id} not in {statuses} within {timeout:.0f} s (last: {last})")


def place(client, symbol: str, side: str, qty: str, price: str, want=("NEW", "FILLED", "PARTIALLY_FILLED")) -> dict:
    """A GTC limit order, once the matcher has sequenced it.  A -1007 (sent, status
    unknown: the matcher did not answer in time, e.g. while it takes over) is followed
    up as Binance tells clients to: by querying the order's client id."""
    from devstack.binance_client import BinanceError

    client_id = f"t{time.time_ns()}"
    try:
        order_id = client.new_order(symbol=symbol, side=side, type="LIMIT", timeInForce="GTC", quantity=qty,
                                    price=price, newClientOrderId=client_id)["orderId"]
    except BinanceError as exc:
        if exc.code != -1007:
            raise
        order_id = client.request("GET", "/v3/order", {"symbol": symbol, "origClientOrderId": client_id},
                                  signed=True)["orderId"]
    return wait_status(client, symbol, order_id, set(want))


def cancel(client, symbol: str, order_id: int) -> dict:
    """Cancel and wait until the matcher has; a -1007 (status unknown) is followed up by
    waiting for the order's status, as for :func:`place`."""
    from devstack.binance_client import BinanceError

    try:
        client.cancel_order(symbol, order_id)
    except BinanceError as exc:
        if exc.code != -1007:
            raise
    return wait_status(client, symbol, order_id, {"CANCELED"})


def balances(client) -> dict[str, tuple[Decimal, Decimal]]:
    """asset -> (free, locked), exact."""
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in client.account()["balances"]}


def stuck_orders(database_url: str, before) -> int:
    """Orders still PENDING_NEW (or intents never acknowledged) that were entered before
    ``before`` (a PostgreSQL timestamp): what a crash must not leave behind."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM orders WHERE status = 'PENDING_NEW' AND created_at < %s",
                            (before,)).fetchone()[0] + \
            conn.execute("SELECT count(*) FROM intent_outbox WHERE sent_at IS NULL AND created_at < %s",
                         (before,)).fetchone()[0]


def db_now(database_url: str):
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def stack_env(original_env: dict, **extra) -> dict:
    """The environment ``up`` runs with in these tests: the suite's original one (not
    the session's local-stack settings), a quick reconciler, and ``extra``."""
    env = dict(original_env)
    env.update({"MATCHER_RECONCILE_MS": "1000", "MATCHER_RECONCILE_GRACE_MS": "2000"})
    env.update(extra)
    return env


def port_block_outside_ephemeral(n: int = 4) -> int:
    """A base port with the next n-1 free, below the kernel's ephemeral range: the
    stack binds the same ports again after a restart."""
    from tests.conftest import free_port_block

    return free_port_block(n, below_ephemeral=True)
