"""Matcher capacity benchmark: what one matcher process (one group) can carry.

``python bench/capacity.py [--rates 2500,5000,0] [--seconds 10] [--groups 1,3] [--runs 3]``
starts its own servers the way ``bench/pipeline.py`` does (PostgreSQL, Redis, moto
for the leases), then per step seeds the orders of that step in PostgreSQL as order
entry leaves them (PENDING_NEW order rows, unacknowledged outbox rows, the
``reserve:`` ledger postings and the free -> locked balance moves: a set-based
equivalent of ``place_order``), and runs N matcher processes at once, each a real
:class:`matcher.service.worker.Worker` serving one symbol (the groups of issue 14 as
disjoint symbols; each process holds its own leases), with:

* the intents stream replaced by a **stream double** that releases the seeded
  intents at the step's rate (a record becomes readable at ``t0 + i / rate``;
  rate 0 = all at once, the saturation point), in pairs SELL then BUY at the same
  price and quantity, so every pair is one trade and two FILLED orders;
* the DynamoDB writes of the hot path (BatchWriteItem; journal and snapshot
  PutItem) answered by a **stand-in** inside botocore (the request is built and
  serialised as for AWS, the answer is "all processed" at once) -- so DynamoDB is
  not the bottleneck; leases and checkpoints go to moto server (whose Werkzeug
  server answers every request with ``Connection: close``: each checkpoint and
  lease renewal here pays a new TCP connection that AWS, keeping botocore's pooled
  connections alive across threads, does not -- the "checkpoint" step's CPU is an
  upper bound);
* real PostgreSQL for settlement and real Redis for market data.

Printed per step and group count (medians over ``--runs``): crossing orders/s
settled (orders / (last settled - first released)), p50/p99 intent -> settled (the
record's release time to the end of the batch that settled it: PostgreSQL commit,
Redis publish, checkpoint), PostgreSQL (Aurora) transactions per order, DynamoDB
requests per order (by operation, the stream's GetRecords included), the matcher's
CPU per order (the process's, plus its publish process's when the publish runs in one:
``MATCHER_PUBLISH_PROCESS``, matcher/service/publishproc.py; ``off`` for the thread), and with
``--profile`` the cProfile top entries of one process (where the time goes).

``--smoke``: one small step, one run (what the test suite runs; figures meaningless).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOLS = ("BTCUSDT", "ETHUSDT", "ETHBTC")
# per symbol: mid price in ticks, lots multiple (keeps price x qty exact at 8 places)
MARKET = {"BTCUSDT": (3_000_000, 1), "ETHUSDT": (200_000, 1), "ETHBTC": (5_000, 10)}
PASSIVE = 200  # resting orders per symbol (released first), so the published depth has levels


# -- seeding (parent) -------------------------------------------------------------------
def seed_pending(database_url: str, accounts: list[int], symbol: str, pairs: int, passive: int = PASSIVE) -> dict:
    """``PASSIVE`` resting orders plus ``pairs`` crossing pairs (SELL then BUY at the
    same price and quantity) as order entry leaves them: PENDING_NEW, funds reserved,
    an outbox row not yet acknowledged.  One transaction of set-based statements."""
    import psycopg

    from chalicelib.symbols import load_catalog

    spec = load_catalog().symbol(symbol)
    assert spec is not None, symbol
    mid, mult = MARKET[symbol]
    n = passive + 2 * pairs
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT nextval('order_id_seq')").fetchone()
        assert row is not None
        base = row[0]
        conn.execute("SELECT setval('order_id_seq', %s)", (base + n,))
        # g <= PASSIVE: alternately bids / asks 100..299 ticks from the mid; then pairs:
        # k = pair index, SELL (side 1) first at mid + jitter, then the BUY (side 0)
        conn.execute(
            "CREATE TEMP TABLE seed ON COMMIT DROP AS SELECT g, %(base)s + g AS oid,"
            " CASE WHEN g <= %(p)s THEN g %% 2 ELSE (g - %(p)s) %% 2 END AS side,"
            " CASE WHEN g <= %(p)s THEN CASE WHEN g %% 2 = 0 THEN %(mid)s - 100 - (g * 7) %% 200"
            "   ELSE %(mid)s + 100 + (g * 7) %% 200 END"
            "   ELSE %(mid)s + ((g - %(p)s - 1) / 2 * 7919) %% 101 - 50 END AS ticks,"
            " CASE WHEN g <= %(p)s THEN 100 ELSE 100 + ((g - %(p)s - 1) / 2 * 31) %% 90 END * %(mult)s AS lots,"
            " (%(accts)s::bigint[])[1 + (CASE WHEN g <= %(p)s THEN g ELSE (g - %(p)s - 1) / 2 + (g - %(p)s) %% 2 END)"
            "   %% %(k)s] AS acct"
            " FROM generate_series(1, %(n)s) g",
            {"base": base, "accts": accounts, "k": len(accounts), "mid": mid, "n": n, "p": passive, "mult": mult})
        conn.execute("ALTER TABLE seed ADD COLUMN asset text, ADD COLUMN amount numeric")
        conn.execute(
            "UPDATE seed SET asset = CASE side WHEN 0 THEN %(q)s ELSE %(b)s END,"
            " amount = CASE side WHEN 0 THEN ticks * lots * %(unit)s ELSE lots * %(step)s END",
            {"q": spec.quote_asset, "b": spec.base_asset, "unit": spec.tick_size * spec.step_size,
             "step": spec.step_size})
        conn.execute(
            "INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, time_in_force, price,"
            " orig_qty, status, reserved_asset, reserved_amount, reserved_left)"
            " SELECT oid, acct, %(s)s, 'cap' || oid, CASE side WHEN 0 THEN 'BUY' ELSE 'SELL' END, 'LIMIT', 'GTC',"
            " ticks * %(tick)s, lots * %(step)s, 'PENDING_NEW', asset, amount, amount FROM seed",
            {"s": symbol, "tick": spec.tick_size, "step": spec.step_size})
        conn.execute(
            "INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
            " SELECT acct || ':cap' || oid, acct, %(s)s, 'NEW', oid, jsonb_build_object('kind', 'NEW',"
            " 'order_id', oid, 'account_id', acct, 'cmd', jsonb_build_array(oid, acct, side, 0, 0, ticks, lots, 0, 0,"
            " 0)) FROM seed", {"s": symbol})
        conn.execute(
            "INSERT INTO ledger_entries (txn_key, account_id, asset, bucket, amount, kind, ref)"
            " SELECT 'reserve:' || oid, acct, asset, b.bucket, CASE b.bucket WHEN 'free' THEN -amount ELSE amount END,"
            " 'RESERVE', oid::text FROM seed CROSS JOIN (VALUES ('free'), ('locked')) AS b(bucket)")
        # the balance rows locked in (account, asset) order first, as settlement locks
        # them: another process's matcher may be settling on the same accounts
        conn.execute("SELECT 1 FROM balances WHERE (account_id, asset) IN (SELECT acct, asset FROM seed)"
                     " ORDER BY account_id, asset FOR UPDATE")
        conn.execute(
            "UPDATE balances x SET free = x.free - r.total, locked = x.locked + r.total FROM ("
            " SELECT acct, asset, sum(amount) AS total FROM seed GROUP BY 1, 2) r"
            " WHERE x.account_id = r.acct AND x.asset = r.asset")
    return {"symbol": symbol, "orders": n, "first_order_id": base + 1}


# -- the stream double and the DynamoDB stand-in (child) ----------------------------------
class StreamDouble:
    """One shard of the intents stream: record ``i`` is readable from ``t0 + times[i]``.
    Its id names the symbol: the processes share the leases table, and each must hold
    its own shard's lease."""

    def __init__(self, records: list[dict], times: list[float], symbol: str = ""):
        self.SHARD = f"shardId-00000000000000000001-capacity-{symbol.lower()}"
        self.records, self.times = records, times
        self.t0: float | None = None  # set when the matcher is ready; nothing is readable before
        self.calls: dict[str, int] = {}

    def _count(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None, **_):
        self._count("dynamodbstreams.DescribeStream")
        return {"StreamDescription": {"Shards": [{"ShardId": self.SHARD, "SequenceNumberRange": {
            "StartingSequenceNumber": "1000"}}]}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None, **_):
        self._count("dynamodbstreams.GetShardIterator")
        pos = 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            pos = int(SequenceNumber) - 1000 + 1
        return {"ShardIterator": str(pos)}

    def get_records(self, ShardIterator, Limit=1000, **_):
        self._count("dynamodbstreams.GetRecords")
        pos = int(ShardIterator)
        if self.t0 is None:
            return {"Records": [], "NextShardIterator": ShardIterator}
        visible = bisect_right(self.times, time.monotonic() - self.t0)
        end = min(pos + Limit, visible)
        return {"Records": self.records[pos:end] if end > pos else [], "NextShardIterator": str(max(pos, end))}


def install_standin(client, tables: set[str], written: dict) -> None:
    """Answer BatchWriteItem, and PutItem into ``tables``, inside botocore: the request
    is built and serialised as for AWS; the answer comes at once (nothing unprocessed).
    Registered last, after the worker's request counter."""
    from botocore.awsrequest import AWSResponse

    stash = threading.local()
    ok = AWSResponse("http://stand-in", 200, {}, None)

    def params(params=None, **_):
        stash.params = params

    def call(model=None, **_):
        name = model.name
        p = getattr(stash, "params", None) or {}
        if name == "BatchWriteItem":
            written["items"] = written.get("items", 0) + sum(len(v) for v in p.get("RequestItems", {}).values())
            return ok, {"UnprocessedItems": {}}
        if name == "PutItem" and p.get("TableName") in tables:
            return ok, {}
        return None

    client.meta.events.register("before-parameter-build.dynamodb", params)
    client.meta.events.register_last("before-call.dynamodb", call)


def load_intents(database_url: str, symbol: str) -> list[dict]:
    """The symbol's unacknowledged intents as the API puts them (stream records)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT intent_id, account_id, order_id, payload::text FROM intent_outbox"
                            " WHERE symbol = %s AND sent_at IS NULL ORDER BY order_id", (symbol,)).fetchall()
    out = []
    for i, (iid, acct, oid, payload) in enumerate(rows):
        body = json.dumps(json.loads(payload), separators=(",", ":"), sort_keys=True)  # canonical_json
        out.append({"eventName": "INSERT", "dynamodb": {
            "SequenceNumber": str(1000 + i),
            "NewImage": {"intent_id": {"S": iid}, "symbol": {"S": symbol}, "kind": {"S": "NEW"},
                         "account_id": {"N": str(acct)}, "order_id": {"N": str(oid)}, "payload": {"S": body},
                         "created_ms": {"N": "0"}}}})
    return out


def child(args) -> int:
    """One matcher process: serve ``args.symbol`` from the stream double; write figures."""
    from chalicelib.clients import Clients
    from matcher.service.config import MatcherConfig
    from matcher.service.obs import count_requests
    from matcher.service.worker import Worker, WorkerHooks

    url = os.environ["DATABASE_URL"]
    double = StreamDouble([], [], args.symbol)
    clients = Clients()
    config = MatcherConfig.from_env()
    settled: dict[str, float] = {}
    done = threading.Event()
    want: set[str] = set()

    class Hooks(WorkerHooks):
        def batch_done(self, _worker, by_symbol):
            now = time.monotonic()
            for items in by_symbol.values():
                for a in items:
                    settled[a.entry.intent_id] = now
            if len(settled) >= len(want):
                done.set()

    worker = Worker(config, clients=clients, streams=double, symbols=[args.symbol], hooks=Hooks())
    requests: dict[str, int] = {}
    count_requests(worker.ddb, requests)
    written: dict = {}
    s = clients.settings
    install_standin(clients.dynamodb, {s.journal_table, s.book_table}, written)
    if not worker.acquire_symbols():  # recovery happens here, before the clock starts
        raise RuntimeError(f"could not take {args.symbol}")
    # seeded after the takeover: a book rebuilt from Aurora would re-send unacknowledged intents
    seed_pending(url, [int(a) for a in args.accounts_list.split(",")], args.symbol, args.pairs, args.passive)
    records = load_intents(url, args.symbol)
    passive = min(args.passive, len(records))
    # the passive orders first, all at once; then the pairs at the rate (both orders of a pair together)
    rate = args.rate
    times = [0.0] * passive + [(0.0 if rate <= 0 else (1 + i // 2 * 2) / rate) for i in range(len(records) - passive)]
    double.records, double.times = records, times
    want.update(r["dynamodb"]["NewImage"]["intent_id"]["S"] for r in records)
    counted_from = dict(requests)
    pg_from, trades_from = worker.stats.pg_transactions, worker.stats.trades
    profile = cProfile.Profile() if args.profile else None
    tail_profile = cProfile.Profile() if args.profile else None
    if tail_profile is not None:  # the publisher thread's tails (cProfile sees one thread)
        submit = worker.publisher.submit

        def profiled_submit(tail):
            def run():
                tail_profile.enable()
                try:
                    tail()
                finally:
                    tail_profile.disable()
            submit(run)

        worker.publisher.submit = profiled_submit  # type: ignore[method-assign]
    mode = worker.start_publish_process()  # the fork, if any, before the watch thread below starts
    double.t0 = time.monotonic()
    deadline = double.t0 + (times[-1] if times else 0) + args.drain

    def watch():
        while not done.wait(0.05):
            if time.monotonic() > deadline:
                break
        worker.stop.set()

    threading.Thread(target=watch, daemon=True).start()
    if profile:
        profile.enable()
    cpu0 = time.process_time()
    worker.run()
    # every thread of the process (worker, publisher, lease renewer), plus the publish process's
    # whole CPU (forked just above: matcher/service/publishproc.py; 0 with the publish in a thread)
    cpu = time.process_time() - cpu0 + worker.stats.child_cpu_s
    if profile:
        profile.disable()
    t0 = double.t0
    idx = {r["dynamodb"]["NewImage"]["intent_id"]["S"]: i for i, r in enumerate(records)}
    crossing = [(t0 + times[idx[k]], v) for k, v in settled.items() if idx[k] >= passive]
    lat = sorted((v - w) * 1000 for w, v in crossing)
    first = min((w for w, _ in crossing), default=t0)
    last = max((v for _, v in crossing), default=t0)
    n = len(records) - passive
    requests = {k: v - counted_from.get(k, 0) for k, v in requests.items() if v - counted_from.get(k, 0)}
    requests.update(double.calls)
    out = {"symbol": args.symbol, "rate": rate, "orders": n, "settled": len(crossing),
           "orders_per_s": len(crossing) / (last - first) if last > first else 0.0,
           "p50_ms": lat[len(lat) // 2] if lat else None,
           "p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] if lat else None,
           "pg_transactions": worker.stats.pg_transactions - pg_from, "batches": worker.stats.batches,
           "trades": worker.stats.trades - trades_from, "cpu_us_per_order": cpu * 1e6 / max(1, n),
           "publish_mode": mode, "child_cpu_us_per_order": worker.stats.child_cpu_s * 1e6 / max(1, n),
           "cpu_us_by_step": {k: v * 1e6 / max(1, n) for k, v in worker.stats.cpu_s.items()},
           "requests": requests, "items_written": written.get("items", 0)}
    if profile:
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("tottime").print_stats(args.profile)
        out["profile"] = buf.getvalue()
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats(args.profile)
        out["profile_cumulative"] = buf.getvalue()
        buf = io.StringIO()
        pstats.Stats(tail_profile, stream=buf).sort_stats("tottime").print_stats(args.profile)
        out["profile_publish"] = buf.getvalue()
    Path(args.out).write_text(json.dumps(out))
    return 0


# -- parent ------------------------------------------------------------------------------
def run_step(env: dict, url: str, accounts: list[int], tmp: Path, rate: int, seconds: float, groups: int,
             profile: int, step: int, passive: int = PASSIVE) -> list[dict]:
    syms = SYMBOLS[:groups]
    pairs = max(1, int((rate or 5000) * seconds) // 2)
    procs = []
    for g, sym in enumerate(syms):
        out = tmp / f"step{step}-{sym}.json"
        menv = {**os.environ, **env, "MATCHER_LOG_LEVEL": "WARNING", "MATCHER_WORKER_ID": f"cap-{step}-{sym}",
                "MATCHER_RECONCILE_MS": "0", "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true", "MATCHER_POLL_MS": os.environ.get("MATCHER_POLL_MS", "5")}
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--symbol", sym, "--rate", str(rate),
                "--out", str(out), "--pairs", str(pairs), "--accounts-list", ",".join(map(str, accounts)),
                "--passive", str(passive), "--profile", str(profile if g == 0 else 0)]  # 0: no cProfile
        procs.append((subprocess.Popen(argv, cwd=str(ROOT), env=menv, stdout=open(tmp / f"step{step}-{sym}.log", "ab"),
                                       stderr=subprocess.STDOUT), out))
    results = []
    for p, out in procs:
        if p.wait(seconds + 300) != 0:
            raise RuntimeError(f"matcher process failed (log: {out.with_suffix('.log')})")
        results.append(json.loads(out.read_text()))
    return results


def reset_dynamodb() -> None:
    """Fresh tables per step: each matcher process takes its symbol anew (leases from
    scratch) and rebuilds the book from Aurora, as after a restore."""
    from bench.recovery import reset_dynamodb as reset

    reset()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="2500,5000,0", help="offered orders/s per process, comma-separated (0 = all"
                                                           " at once: the saturation throughput)")
    ap.add_argument("--seconds", type=float, default=10, help="seconds of orders per step (at rate 0: as many"
                                                              " orders as 5,000/s would give)")
    ap.add_argument("--groups", default="1,3", help="matcher processes (groups, one symbol each) per step")
    ap.add_argument("--runs", type=int, default=3, help="runs per step (medians)")
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--profile", type=int, default=25, help="cProfile entries of one process (0 = no profile)")
    ap.add_argument("--json", help="also write every run's figures as JSON here")
    ap.add_argument("--pg-log-ms", type=int, default=0, help="PostgreSQL logs statements slower than this")
    ap.add_argument("--smoke", action="store_true", help="one small step, one run (the test suite's)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--symbol", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--pairs", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--accounts-list", help=argparse.SUPPRESS)
    ap.add_argument("--passive", type=int, default=PASSIVE, help="resting orders per symbol, released first")
    ap.add_argument("--drain", type=float, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    if args.smoke:
        args.rates, args.seconds, args.groups, args.runs, args.accounts, args.profile = "1000", 0.2, "2", 1, 2, 0
        args.passive = 10
    rates = [int(r) for r in args.rates.split(",")]
    group_counts = [int(g) for g in args.groups.split(",")]

    from bench.pipeline import make_accounts, start_servers, stop_all

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on a kill too
    tmp = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    env, procs, servers, url, _ = start_servers(tmp)
    all_runs, step = [], 0
    try:
        accounts = make_accounts(args.accounts)
        if args.pg_log_ms:  # PostgreSQL logs statements slower than this (in its data directory's log)
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"ALTER DATABASE {conn.info.dbname} SET log_min_duration_statement = {args.pg_log_ms}")
        load = os.getloadavg()
        print(f"capacity: rates {rates} orders/s per process, {args.seconds:g} s each, groups {group_counts},"
              f" {args.runs} run(s); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
        summary = {}
        for groups in group_counts:
            for rate in rates:
                runs = []
                for _ in range(args.runs):
                    reset_dynamodb()
                    res = run_step(env, url, accounts, tmp, rate, args.seconds, groups, 0, step, args.passive)
                    step += 1
                    runs.append(res)
                    all_runs.append({"groups": groups, "rate": rate, "processes": res})
                summary[(groups, rate)] = report(groups, rate, runs)
        if (1, 0) in summary and (3, 0) in summary:
            one, three = summary[(1, 0)]["orders_per_s"], summary[(3, 0)]["orders_per_s"]
            print(f"3 groups in 3 processes vs 1: {three:,.0f} / {one:,.0f} orders/s = {three / one:.2f}x"
                  f" (the machine has {os.cpu_count()} cores)")
        if args.profile:  # a separate run: cProfile slows the process down, so it is not a measured one
            reset_dynamodb()
            prof = run_step(env, url, accounts, tmp, 0, args.seconds, 1, args.profile, step)[0]
            print(f"\nprofile of one matcher process ({prof['symbol']}, all at once, {prof['orders']:,} orders,"
                  f" {prof['orders_per_s']:,.0f} orders/s under cProfile), by own time:")
            print("\n".join(prof["profile"].splitlines()[:args.profile + 12]))
            print("by cumulative time:")
            print("\n".join(prof["profile_cumulative"].splitlines()[:args.profile + 12]))
            print("\nthe publisher thread (a batch's Redis publish, user data stream, checkpoint; with a publish"
                  " process, its round trips to it), by own time:")
            print("\n".join(prof["profile_publish"].splitlines()[:args.profile + 12]))
        print(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.json:
            Path(args.json).write_text(json.dumps(all_runs, indent=2, default=str))
        return 0
    finally:
        stop_all(procs, servers)


def report(groups: int, rate: int, runs: list[list[dict]]) -> dict:
    """Print one step's medians over its runs; the figures."""
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")

    total = [sum(p["orders_per_s"] for p in run) for run in runs]
    p50 = [med(p["p50_ms"] for p in run) for run in runs]
    p99 = [max((p["p99_ms"] or 0) for p in run) for run in runs]
    orders = sum(p["settled"] for run in runs for p in run)
    pg = sum(p["pg_transactions"] for run in runs for p in run)
    reqs: dict[str, int] = {}
    for run in runs:
        for p in run:
            for k, v in p["requests"].items():
                reqs[k] = reqs.get(k, 0) + v
    per_order = {k: v / max(1, orders) for k, v in sorted(reqs.items())}
    offered = f"{rate:,} orders/s offered per process" if rate else "all at once (saturation)"
    print(f"\n{groups} group(s), {offered}: settled {med(total):,.0f} crossing orders/s in all"
          f" ({med(total) / groups:,.0f} per process); intent->settled p50 {med(p50):.0f} ms, p99 {med(p99):.0f} ms"
          f" (medians of {len(runs)}; runs: {', '.join(f'{t:,.0f}' for t in total)})")
    trades = sum(p.get("trades", 0) for run in runs for p in run)
    cpu = [med(p.get("cpu_us_per_order") for p in run) for run in runs]
    modes = sorted({p.get("publish_mode", "thread") for run in runs for p in run})
    child = med(med(p.get("child_cpu_us_per_order") for p in run) for run in runs)
    print(f"  matcher process CPU {med(cpu):,.0f} us per order (medians of {len(runs)}; the machine's load"
          f" stretches wall time, not this; runs: {', '.join(f'{c:,.0f}' for c in cpu)}; publish in a"
          f" {'/'.join(modes)}" + (f", whose {child:,.0f} are in this figure)" if child else ")"))
    steps = {k for run in runs for p in run for k in p.get("cpu_us_by_step", {})}
    by_step = {k: med(p.get("cpu_us_by_step", {}).get(k) for run in runs for p in run) for k in steps}
    print("  of which, per batch step (us of CPU per order, the thread or process doing it): " + ", ".join(
        f"{k} {v:,.0f}" for k, v in sorted(by_step.items(), key=lambda kv: -kv[1])))
    print(f"  trades/order {trades / max(1, orders):.3f} (0.5: every pair crossed);"
          f" Aurora transactions/order {pg / max(1, orders):.4f}; DynamoDB requests/order"
          f" {sum(per_order.values()):.4f}: " + ", ".join(f"{k.split('.')[1]} {v:.4f}" for k, v in per_order.items()))
    return {"orders_per_s": med(total), "p50_ms": med(p50), "p99_ms": med(p99), "cpu_us_per_order": med(cpu)}


if __name__ == "__main__":
    sys.exit(main())
