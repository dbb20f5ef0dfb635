"""Pipeline benchmark: sustained orders/s through the whole local pipeline.

``python bench/pipeline.py [--seconds 60] [--threads 6]`` starts its own servers
the way the local stack does (PostgreSQL, Redis, moto server and the Data API as
processes, the matcher as ``python -m matcher``), then for ``--seconds`` places
pairs of crossing LIMIT orders through ``chalicelib.orders.place_order`` from
several threads, and reports:

* sustained orders/s (orders whose intent reached DynamoDB),
* p50/p99 latency from *intent written* (the put returned) to *trade settled*
  (the matcher's pub/sub trade message, sent after the PostgreSQL commit),
* DynamoDB requests per order (API + matcher, by operation) and PostgreSQL
  transactions per order (API Data API transactions + matcher transactions),
* moto's own capacity for the same DynamoDB request mix, measured in the same run
  right after: the mix per order replayed straight at moto from as many threads,
  giving a ceiling in orders/s; the pipeline's throughput as a ratio of it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(tmp: Path):
    from devstack import postgres as pg
    from devstack import redisserver
    from devstack.stack import LOCAL_AWS_CREDENTIALS, Ports, apply_env, create_aws_resources, http_ok, \
        migrate_database, stack_env, wait_until

    procs, servers = [], []
    postgres = pg.start(os.environ.get("DATABASE_URL"), tmp / "pgdata")
    servers.append(postgres)
    db = f"bench_{uuid.uuid4().hex[:8]}"
    url = postgres.database_url(db)
    migrate_database(url)
    redis = redisserver.start(os.environ.get("REDIS_URL"), tmp / "redis")
    servers.append(redis)
    ports = Ports(web=free_port(), moto=free_port(), dataapi=free_port())
    env = stack_env(ports, url, redis.url)
    env.update({"REDIS_KEY_PREFIX": f"b{uuid.uuid4().hex[:6]}:", "EXCHANGE_STAGE": "test"})
    env.pop("EXCHANGE_API_URL", None)
    apply_env(env)
    log = open(tmp / "servers.log", "ab")
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports.moto)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    procs.append(moto)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{ports.moto}/moto-api/"), "moto server")
    pool_id, client_id = create_aws_resources(env["AWS_ENDPOINT_URL"])
    env.update({"COGNITO_USER_POOL_ID": pool_id, "COGNITO_CLIENT_ID": client_id})
    apply_env(env)
    dataapi = subprocess.Popen([sys.executable, "-m", "devstack.dataapi", "--database-url", url, "--host",
                                "127.0.0.1", "--port", str(ports.dataapi), "--log-level", "WARNING"],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=str(ROOT))
    procs.append(dataapi)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{ports.dataapi}/health"), "Data API")
    return env, procs, servers, url, LOCAL_AWS_CREDENTIALS


def make_accounts(n: int) -> list[int]:
    from chalicelib import admin
    from chalicelib.accounts import ensure_account
    from chalicelib.db import transaction

    ids = []
    for i in range(n):
        with transaction() as tx:
            a = ensure_account(tx, f"bench{i}-{uuid.uuid4().hex[:4]}@bench.local")
        for asset, amount in (("USDT", "100000000"), ("BTC", "10000"), ("ETH", "100000")):
            admin.deposit(a.account_id, asset, Decimal(amount), transfer_id=f"b-{a.account_id}-{asset}")
        ids.append(a.account_id)
    return ids


def count_clients(counter: dict):
    """Count the API side's AWS calls (DynamoDB puts, Data API statements)."""
    from chalicelib.clients import get_clients
    from matcher.service.obs import count_requests

    c = get_clients()
    count_requests(c.rds_data, counter)
    count_requests(c.dynamodb, counter)
    # PynamoDB builds its own botocore client: count through the model's connection
    from chalicelib.tables import IntentModel

    count_requests(IntentModel._get_connection().connection.client, counter)


def run_pipeline(seconds: float, threads: int, accounts: list[int]) -> dict:
    from chalicelib import marketdata, orders
    from chalicelib.clients import get_clients

    written: dict[int, float] = {}
    settled: dict[int, float] = {}
    placed = [0]
    errors = [0]
    lock = threading.Lock()
    stop = threading.Event()
    r = get_clients().redis
    pubsub = r.pubsub()
    syms = ["BTCUSDT", "ETHUSDT"]
    pubsub.subscribe(*[marketdata.channel(s) for s in syms])

    def listen():
        while not stop.is_set() or time.monotonic() < listen_until[0]:
            msg = pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                doc = json.loads(msg["data"])
                if doc.get("e") == "trade":
                    now = time.monotonic()
                    for t in doc["t"]:
                        settled.setdefault(int(t["o"]), now)

    listen_until = [float("inf")]
    lt = threading.Thread(target=listen, daemon=True)
    lt.start()

    def trader(k: int):
        rng = random.Random(k)
        i = 0
        while not stop.is_set():
            sym = syms[i % 2]
            step = Decimal("0.00001") if sym == "BTCUSDT" else Decimal("0.0001")
            price = (Decimal(30000 if sym == "BTCUSDT" else 2000) + rng.randint(-50, 50)).quantize(Decimal("0.01"))
            qty = step * rng.randint(500, 2000)
            a, b = rng.sample(accounts, 2)
            for side, acct in (("SELL", a), ("BUY", b)):
                cid = f"B{k}x{i}{side[0]}{uuid.uuid4().hex[:6]}"
                try:
                    o = orders.place_order(acct, orders.OrderRequest(sym, side, "LIMIT", "GTC", qty, None, price,
                                                                     None, cid))
                    with lock:
                        written[o["orderId"]] = time.monotonic()
                        placed[0] += 1
                except Exception:
                    with lock:
                        errors[0] += 1
            i += 1

    ts = [threading.Thread(target=trader, args=(k,), daemon=True) for k in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - t0
    listen_until[0] = time.monotonic() + 30
    # wait for the matcher to drain
    from chalicelib.db import transaction

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with transaction() as tx:
            left = tx.scalar("SELECT count(*) FROM orders WHERE status = 'PENDING_NEW'")
        if not left:
            break
        time.sleep(0.5)
    drained = time.monotonic() - t0
    time.sleep(1.0)
    lat = sorted((settled[o] - written[o]) * 1000 for o in settled if o in written and settled[o] >= written[o])
    return {"orders": placed[0], "errors": errors[0], "seconds": elapsed, "drain_seconds": drained,
            "orders_per_s": placed[0] / elapsed, "settled_orders_per_s": placed[0] / drained,
            "latency_ms": {"n": len(lat), "p50": statistics.median(lat) if lat else None,
                           "p99": lat[int(len(lat) * 0.99) - 1] if lat else None}}


def moto_ceiling(env: dict, mix: dict[str, float], threads: int, seconds: float = 10.0) -> dict:
    """Replay the pipeline's DynamoDB request mix (per order) straight at moto."""
    import boto3

    from chalicelib.settings import get_settings

    s = get_settings()
    kw = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": "us-east-1", "aws_access_key_id": "local",
          "aws_secret_access_key": "local"}
    ops = [(op, w) for op, w in mix.items() if w > 0]
    total_w = sum(w for _, w in ops)
    done = [0]
    lock = threading.Lock()
    stop = threading.Event()
    arn = boto3.client("dynamodb", **kw).describe_table(TableName=s.intents_table)["Table"]["LatestStreamArn"]

    def one(ddb, streams, op: str, rng, it_holder):
        u = uuid.uuid4().hex
        if op == "dynamodb.PutItem":
            ddb.put_item(TableName=s.intents_table, Item={
                "intent_id": {"S": f"ceil:{u}"}, "symbol": {"S": "BTCUSDT"}, "account_id": {"N": "9"},
                "kind": {"S": "CEILING"}, "order_id": {"N": "1"}, "payload": {"S": "x" * 160},
                "created_ms": {"N": "1"}}, ConditionExpression="attribute_not_exists(intent_id)")
        elif op == "dynamodb.BatchWriteItem":
            ddb.batch_write_item(RequestItems={s.trades_table: [{"PutRequest": {"Item": {
                "symbol": {"S": "CEIL"}, "trade_id": {"N": str(rng.randint(1, 10**12))}, "price": {"S": "30000.00"},
                "qty": {"S": "0.01000"}, "quote_qty": {"S": "300.0000000"}, "buyer_order_id": {"N": "1"},
                "seller_order_id": {"N": "2"}, "is_buyer_maker": {"BOOL": True}, "event_seq": {"N": "1"},
                "time_ms": {"N": "1"}}}} for _ in range(25)]})
        elif op == "dynamodbstreams.GetRecords":
            if it_holder[0] is None:
                sh = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
                it_holder[0] = streams.get_shard_iterator(StreamArn=arn, ShardId=sh,
                                                          ShardIteratorType="LATEST")["ShardIterator"]
            resp = streams.get_records(ShardIterator=it_holder[0], Limit=500)
            it_holder[0] = resp.get("NextShardIterator")
        elif op in ("dynamodb.UpdateItem", "dynamodb.GetItem"):
            key = {"lease_key": {"S": f"ceil:{rng.randint(1, 50)}"}}
            if op == "dynamodb.GetItem":
                ddb.get_item(TableName=s.leases_table, Key=key, ConsistentRead=True)
            else:
                ddb.update_item(TableName=s.leases_table, Key=key, UpdateExpression="SET expires_ms = :e",
                                ExpressionAttributeValues={":e": {"N": "1"}})
        elif op == "dynamodb.Query":
            ddb.query(TableName=s.journal_table, KeyConditionExpression="#s = :s",
                      ExpressionAttributeNames={"#s": "symbol"}, ExpressionAttributeValues={":s": {"S": "CEIL"}})
        else:  # DescribeTable, DescribeStream, GetShardIterator, Scan: rare; a cheap read stands in
            ddb.describe_table(TableName=s.leases_table)

    def worker(k: int):
        ddb = boto3.client("dynamodb", **kw)
        streams = boto3.client("dynamodbstreams", **kw)
        rng = random.Random(k)
        it_holder = [None]
        while not stop.is_set():
            x = rng.random() * total_w
            for op, w in ops:
                x -= w
                if x <= 0:
                    break
            one(ddb, streams, op, rng, it_holder)
            with lock:
                done[0] += 1

    ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    rps = done[0] / (time.monotonic() - t0)
    return {"requests_per_s": rps, "orders_per_s": rps / total_w}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--ceiling-seconds", type=float, default=15)
    ap.add_argument("--json", help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    env, procs, servers, url, _ = start_servers(tmp)
    stats_file = tmp / "matcher-stats.json"
    matcher = None
    try:
        accounts = make_accounts(args.accounts)
        api_counter: dict[str, int] = {}
        count_clients(api_counter)
        menv = {**os.environ, **env, "MATCHER_STATS_FILE": str(stats_file), "MATCHER_LOG_LEVEL": "WARNING",
                "MATCHER_METRICS_MS": "2000", "POWERTOOLS_METRICS_DISABLED": "true", "MATCHER_RECONCILE_MS": "0"}
        matcher = subprocess.Popen([sys.executable, "-m", "matcher"], cwd=str(ROOT), env=menv,
                                   stdout=open(tmp / "matcher.log", "ab"), stderr=subprocess.STDOUT)
        time.sleep(3)
        print(f"pipeline: {args.seconds:.0f} s of crossing LIMIT orders from {args.threads} threads ...", flush=True)
        res = run_pipeline(args.seconds, args.threads, accounts)
        matcher.terminate()
        matcher.wait(30)
        mstats = json.loads(stats_file.read_text())
        n = res["orders"]
        ddb_api = sum(v for k, v in api_counter.items() if k.startswith("dynamodb."))
        ddb_matcher = sum(v for k, v in mstats["requests"].items())
        ddb_writes_m = sum(v for k, v in mstats["requests"].items()
                           if k.split(".")[1] in ("PutItem", "BatchWriteItem", "UpdateItem"))
        dataapi_tx = api_counter.get("rds-data.BeginTransaction", 0)
        mix = {}
        for k, v in mstats["requests"].items():
            mix[k] = mix.get(k, 0) + v / n
        for k, v in api_counter.items():
            if k.startswith("dynamodb"):
                mix[k] = mix.get(k, 0) + v / n
        print(f"moto ceiling: replaying the same DynamoDB request mix for {args.ceiling_seconds:.0f} s ...",
              flush=True)
        ceiling = moto_ceiling(env, mix, args.threads, args.ceiling_seconds)
        out = {
            **res,
            "dynamodb_requests_per_order": {"api": ddb_api / n, "matcher": ddb_matcher / n,
                                            "matcher_writes": ddb_writes_m / n,
                                            "total": (ddb_api + ddb_matcher) / n},
            "postgres_transactions_per_order": {"api_data_api": dataapi_tx / n,
                                                "matcher": mstats["pg_transactions"] / n,
                                                "data_api_calls": sum(v for k, v in api_counter.items()
                                                                      if k.startswith("rds-data")) / n},
            "matcher": {"batches": mstats["batches"], "pg_transactions": mstats["pg_transactions"],
                        "intents_per_batch": mstats["intents"] / max(1, mstats["batches"]),
                        "trades": mstats["trades"], "requests": mstats["requests"]},
            "api_requests": api_counter,
            "moto_ceiling": ceiling,
            "ratio_to_ceiling": res["orders_per_s"] / ceiling["orders_per_s"],
        }
        print(json.dumps(out, indent=2, default=str))
        print(f"\nsustained {res['orders_per_s']:.1f} orders/s ({n} orders in {res['seconds']:.0f} s; "
              f"settled throughput {res['settled_orders_per_s']:.1f}/s); latency intent->settled "
              f"p50 {res['latency_ms']['p50']:.0f} ms p99 {res['latency_ms']['p99']:.0f} ms")
        print(f"DynamoDB requests/order: API {ddb_api / n:.2f} + matcher {ddb_matcher / n:.3f} "
              f"(matcher writes {ddb_writes_m / n:.3f}); PostgreSQL transactions/order: API {dataapi_tx / n:.2f}"
              f" + matcher {mstats['pg_transactions'] / n:.3f} ({mstats['pg_transactions']} for"
              f" {mstats['batches']} batches)")
        print(f"moto ceiling for this mix: {ceiling['orders_per_s']:.1f} orders/s "
              f"({ceiling['requests_per_s']:.0f} req/s); pipeline = {out['ratio_to_ceiling']:.0%} of it")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return 0
    finally:
        if matcher and matcher.poll() is None:
            matcher.kill()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in servers:
            try:
                s.stop()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
