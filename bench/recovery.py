"""Recovery benchmark: how long the matcher takes from taking a symbol to its first
match when it must rebuild the book from Aurora (issue 11).

``python bench/recovery.py [--sizes 10000,100000] [--runs 3]`` starts its own servers
the way the local stack does (``bench/pipeline.py``'s ``start_servers``), seeds
BTCUSDT with N resting orders directly in PostgreSQL -- a bulk equivalent of order
entry that keeps the books balanced: the order rows, their acknowledged outbox rows
(the engine command each was placed with), the ``reserve:<order_id>`` ledger
postings and the free -> locked balance moves, and the settlement progress as if
they had been sequenced -- with DynamoDB empty, as after a restore or a local
restart.  Then, per run: a crossing order is placed, ``python -m matcher`` starts,
takes the symbol, finds that DynamoDB does not account for Aurora, rebuilds the
book from Aurora, audits it, and matches the crossing order.  Reported per size
(medians of the runs):

* takeover -> first match: from the matcher's "took symbol lease" log line to the
  trade's sequencing time (``trades.executed_at``);
* recovery: the matcher's own "recovered book" duration (read Aurora, rebuild,
  audit, snapshot, publish);
* process start -> first match (includes Python start-up and the other symbols).

Between runs the DynamoDB tables are recreated empty, so every run rebuilds.
``--smoke`` (one small size, one run) is what the test suite runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOL = "BTCUSDT"
MID = 3_000_000  # ticks (30000.00)


def seed_book(database_url: str, accounts: list[int], n: int) -> dict:
    """N resting LIMIT GTC orders on SYMBOL (alternately bids below and asks above the
    mid, 2,000 levels a side), in one PostgreSQL transaction of set-based statements."""
    import psycopg

    from chalicelib.symbols import listed_spec

    spec = listed_spec(SYMBOL)
    tick, step = spec.tick_size, spec.step_size
    with psycopg.connect(database_url) as conn:
        (base,) = conn.execute("SELECT nextval('order_id_seq')").fetchall()[0]
        conn.execute("SELECT setval('order_id_seq', %s)", (base + n,))
        conn.execute(
            "CREATE TEMP TABLE seed ON COMMIT DROP AS SELECT g, %(base)s + g AS oid,"
            " (%(accts)s::bigint[])[1 + g %% %(k)s] AS acct, g %% 2 AS side,"
            " CASE WHEN g %% 2 = 0 THEN %(mid)s - 1 - (g / 2) %% 2000 ELSE %(mid)s + 1 + (g / 2) %% 2000 END AS ticks,"
            " 100 + g %% 50 AS lots FROM generate_series(1, %(n)s) g",
            {"base": base, "accts": accounts, "k": len(accounts), "mid": MID, "n": n})
        conn.execute("ALTER TABLE seed ADD COLUMN asset text, ADD COLUMN amount numeric")
        conn.execute(
            "UPDATE seed SET asset = CASE side WHEN 0 THEN %(q)s ELSE %(b)s END,"
            " amount = CASE side WHEN 0 THEN ticks * lots * %(unit)s ELSE lots * %(step)s END",
            {"q": spec.quote_asset, "b": spec.base_asset, "unit": tick * step, "step": step})
        conn.execute(
            "INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, time_in_force, price,"
            " orig_qty, status, reserved_asset, reserved_amount, reserved_left, last_event_seq, book_seq, working_at)"
            " SELECT oid, acct, %(s)s, 'seed' || oid, CASE side WHEN 0 THEN 'BUY' ELSE 'SELL' END, 'LIMIT', 'GTC',"
            " ticks * %(tick)s, lots * %(step)s, 'NEW', asset, amount, amount, 2 * g, 2 * g, now() FROM seed",
            {"s": SYMBOL, "tick": tick, "step": step})
        conn.execute(
            "INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload, sent_at)"
            " SELECT acct || ':seed' || oid, acct, %(s)s, 'NEW', oid, jsonb_build_object('kind', 'NEW',"
            " 'order_id', oid, 'account_id', acct, 'cmd', jsonb_build_array(oid, acct, side, 0, 0, ticks, lots, 0, 0,"
            " 0)), now() FROM seed", {"s": SYMBOL})
        conn.execute(
            "INSERT INTO ledger_entries (txn_key, account_id, asset, bucket, amount, kind, ref)"
            " SELECT 'reserve:' || oid, acct, asset, b.bucket, CASE b.bucket WHEN 'free' THEN -amount ELSE amount END,"
            " 'RESERVE', oid::text FROM seed CROSS JOIN (VALUES ('free'), ('locked')) AS b(bucket)")
        conn.execute(
            "UPDATE balances x SET free = x.free - r.total, locked = x.locked + r.total FROM ("
            " SELECT acct, asset, sum(amount) AS total FROM seed GROUP BY 1, 2) r"
            " WHERE x.account_id = r.acct AND x.asset = r.asset")
        conn.execute(
            "INSERT INTO settlement_progress (symbol, last_seq, event_seq) VALUES (%(s)s, %(n)s, 2 * %(n)s + 1)"
            " ON CONFLICT (symbol) DO UPDATE SET last_seq = settlement_progress.last_seq + %(n)s,"
            " event_seq = settlement_progress.event_seq + 2 * %(n)s + 1", {"s": SYMBOL, "n": n})
    return {"orders": n, "first_order_id": base + 1}


def reset_dynamodb() -> None:
    from chalicelib.clients import get_clients
    from chalicelib.tables import create_tables, table_specs

    ddb = get_clients().dynamodb
    for spec in table_specs():
        ddb.delete_table(TableName=spec.table_name)
        ddb.get_waiter("table_not_exists").wait(TableName=spec.table_name, WaiterConfig={"Delay": 0.2})
    create_tables(ddb)


def _log_time(line: dict) -> float:
    return datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


def one_run(env: dict, tmp: Path, database_url: str, account: int, run: int) -> dict:
    """Place a crossing BUY at the best ask, start the matcher, wait for the trade."""
    import psycopg

    from chalicelib import orders

    req = orders.OrderRequest(SYMBOL, "BUY", "LIMIT", "GTC", Decimal("0.00100"), None, Decimal("30000.01"), None,
                              f"x{uuid.uuid4().hex[:16]}")
    oid = orders.place_order(account, req)["orderId"]
    log_path = tmp / f"matcher-{run}.log"
    menv = {**os.environ, **env, "MATCHER_LOG_LEVEL": "INFO", "MATCHER_WORKER_ID": f"bench-{run}",
            "MATCHER_RECONCILE_MS": "0", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
            "MATCHER_POLL_MS": "10"}
    t_start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=str(ROOT), env=menv,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        executed = None
        with psycopg.connect(database_url, autocommit=True) as conn:
            while executed is None:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"no match (matcher log: {log_path})")
                row = conn.execute("SELECT executed_at FROM trades WHERE buyer_order_id = %s", (oid,)).fetchone()
                executed = row[0].timestamp() if row else None
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(60)
    took = recovered = None
    for raw in open(log_path):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("symbol") != SYMBOL:
            continue
        if line.get("message") == "took symbol lease" and took is None:
            took = _log_time(line)
        elif line.get("message") == "recovered book":
            recovered = line
    if took is None or recovered is None or not recovered.get("rebuilt"):
        raise RuntimeError(f"the matcher did not rebuild {SYMBOL} from Aurora (log: {log_path})")
    return {"takeover_to_match_s": executed - took, "recovery_s": recovered["ms"] / 1000,
            "start_to_match_s": executed - t_start, "resting": recovered["resting"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="resting orders per run set (comma-separated)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="one run of 500 resting orders (the test suite's)")
    ap.add_argument("--json", help="also write the results as JSON to this file ('-' = stdout)")
    args = ap.parse_args(argv)
    sizes = [500] if args.smoke else [int(s) for s in args.sizes.split(",")]
    runs = 1 if args.smoke else args.runs

    from bench.pipeline import make_accounts, start_servers

    tmp = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    tmp.chmod(0o755)
    env, procs, servers, url, _ = start_servers(tmp)
    results: list[dict] = []
    try:
        accounts = make_accounts(10)
        seeded = 0
        for size in sizes:
            seed_book(url, accounts, size - seeded)  # the book grows to each size in turn
            seeded = size
            figures = []
            for r in range(runs):
                reset_dynamodb()
                figures.append(one_run(env, tmp, url, accounts[0], len(results) * 100 + r))
            med = {k: statistics.median(f[k] for f in figures) for k in
                   ("takeover_to_match_s", "recovery_s", "start_to_match_s")}
            results.append({"resting_orders": size, "runs": figures, "median": med})
            print(f"{size:>7} resting orders: takeover -> first match {med['takeover_to_match_s']:.2f} s"
                  f" (recovery {med['recovery_s']:.2f} s; process start -> match {med['start_to_match_s']:.2f} s;"
                  f" median of {runs})", flush=True)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        for s in servers:
            s.stop()
    if args.json:
        doc = json.dumps({"results": results}, indent=2)
        if args.json == "-":
            print(doc)
        else:
            Path(args.json).write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
