"""Pipeline benchmark: sustained orders/s through the whole local pipeline.

``python bench/pipeline.py [--seconds 60] [--threads 6]`` starts its own servers
the way the local stack does (PostgreSQL, Redis, moto server and the Data API as
processes, the matcher as ``python -m matcher.instrumented``, which writes its
request counts), then for ``--seconds`` places pairs of crossing LIMIT orders
through ``chalicelib.orders.place_order`` from several threads, and reports:

* sustained orders/s (orders whose intent reached DynamoDB),
* p50/p99 latency from *intent written* (the put returned) to *trade settled*
  (the matcher's pub/sub trade message, sent after the PostgreSQL commit),
* DynamoDB requests per order (API + matcher, by operation) and PostgreSQL
  transactions per order (API Data API transactions + matcher transactions),
* moto's own capacity for the same DynamoDB request mix, measured in the same run
  right after: the requests per order replayed straight at moto from as many threads,
  giving a ceiling in orders/s; the pipeline's throughput as a ratio of it.

The replay is the pipeline's requests, not just their operation names (see
``moto_ceiling``): each (side, operation) in the same proportion per order, on the
same kind of table (the intent put on the stream table, the journal put on a table
without one), of the same mean size (request bytes measured on both sides; items
per BatchWriteItem), conditional where the pipeline's are, and the stream read by
ONE consumer as the one active matcher reads it -- so a GetRecords returns about as
many records as the matcher's did.  (Replaying GetRecords from every thread with
its own iterator would return each record once per thread: many times the bytes
per call, and a ceiling far too low.)  The figures of the replay are printed next
to the pipeline's, so the match can be checked.

``--path ws`` places the same orders over the WebSocket API instead (``order.place``
on sessions logged on once per connection, against a real gateway process; see
``bench/wsphase.py``) and prints ``cost (WebSocket API path): $X.XX per 1M orders``;
``--path both`` runs the REST path and then the WebSocket one on the same servers and
prints both cost lines.
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



def run_threads(target, threads: int, seconds: float, stop: threading.Event) -> float:
    """Run ``target(k)`` on ``threads`` threads for ``seconds``, then set ``stop`` and
    join them; return the elapsed wall time (the pipeline and the ceiling are driven
    alike, so their rates compare).  A thread that dies takes the run down with its
    error: a silent death would report a rate of zero (or a ceiling to divide by)."""
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            target(k)
        except BaseException as e:
            errors.append(e)
            stop.set()

    ts = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {threads} load threads failed") from errors[0]
    return time.monotonic() - t0

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(tmp: Path):
    from devstack import postgres as pg, redisserver
    from devstack.stack import (
        LOCAL_AWS_CREDENTIALS,
        Ports,
        apply_env,
        create_aws_resources,
        http_ok,
        migrate_database,
        stack_env,
        wait_until,
    )

    procs: list[subprocess.Popen] = []
    servers: list[pg.Postgres | redisserver.RedisServer] = []
    postgres = pg.start(os.environ.get("DATABASE_URL"), tmp / "pgdata")
    servers.append(postgres)
    db = f"bench_{uuid.uuid4().hex[:8]}"
    url = postgres.database_url(db)
    migrate_database(url)
    redis = redisserver.start(os.environ.get("REDIS_URL"), tmp / "redis")
    servers.append(redis)
    ports = Ports(web=free_port(), moto=free_port(), dataapi=free_port(), gateway=free_port())
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


def stop_all(procs, servers) -> None:
    """Stop a run's processes (SIGTERM, then SIGKILL after 10 s) and then the servers
    of :func:`start_servers`, whatever state the run ended in."""
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    for s in servers:
        try:
            s.stop()
        except Exception:  # teardown: the next server is stopped regardless
            pass


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


def count_clients(counter: dict, shape: dict):
    """Count the API side's AWS calls (DynamoDB puts, Data API statements), with the
    bytes of each DynamoDB request (for the ceiling's replay)."""
    from chalicelib.clients import get_clients
    from matcher.service.obs import count_requests

    c = get_clients()
    count_requests(c.rds_data, counter)

    def autocommitted(params=None, **_):  # a statement without transactionId is a transaction too
        if params is not None and not params.get("transactionId"):
            counter["rds-data.autocommit"] = counter.get("rds-data.autocommit", 0) + 1

    c.rds_data.meta.events.register("before-parameter-build.rds-data.ExecuteStatement", autocommitted)
    count_requests(c.dynamodb, counter, shape)
    # PynamoDB builds its own botocore client: count through the model's connection
    from chalicelib.tables import IntentModel

    count_requests(IntentModel._get_connection().connection.client, counter, shape)


def run_pipeline(seconds: float, threads: int, accounts: list[int], resp_type: str = "FULL",
                 placer=None) -> dict:
    """Drive the load; ``placer``: None for the REST path (``place_order`` in this
    process, as the API Lambda runs it), else ``placer(k)`` -> thread ``k``'s
    ``place(account, symbol, side, qty, price, client_order_id) -> orderId`` (the
    WebSocket API path: :class:`WsTrader`), ``close()`` when the thread ends."""
    from chalicelib import marketdata, orders
    from chalicelib.api.trading import RESULT_WAIT_S
    from chalicelib.clients import get_clients

    written: dict[int, float] = {}
    settled: dict[int, float] = {}
    request_ms: list[float] = []   # per REST request: what its Lambda would run (wall) ...
    request_cpu_ms: list[float] = []  # ... and of that, this thread's CPU
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
        ws = placer(k) if placer else None
        try:
            trade(k, ws)
        finally:
            if ws is not None:
                ws.close()

    def trade(k: int, ws):
        rng = random.Random(k)
        # over the WebSocket API a thread trades for its own few accounts: one logged-on
        # connection each, kept, as a trading client keeps its session
        own = accounts[k::threads] if ws is not None and len(accounts[k::threads]) >= 2 else accounts
        i = 0
        while not stop.is_set():
            sym = syms[i % 2]
            step = Decimal("0.00001") if sym == "BTCUSDT" else Decimal("0.0001")
            price = (Decimal(30000 if sym == "BTCUSDT" else 2000) + rng.randint(-50, 50)).quantize(Decimal("0.01"))
            qty = step * rng.randint(500, 2000)
            a, b = rng.sample(own, 2)
            for side, acct in (("SELL", a), ("BUY", b)):
                cid = f"B{k}x{i}{side[0]}{uuid.uuid4().hex[:6]}"
                try:
                    t0, c0 = time.monotonic(), time.thread_time()
                    if ws is not None:  # the gateway writes the intent (and, FULL, waits) before it answers
                        oid = ws.place(acct, sym, side, qty, price, cid)
                        with lock:
                            written[oid] = t0  # request sent: the put's own time is the gateway's
                            placed[0] += 1
                        wall, cpu = (time.monotonic() - t0) * 1000, 0.0
                        with lock:
                            request_ms.append(wall)
                        continue
                    o = orders.place_order(acct, orders.OrderRequest(sym, side, "LIMIT", "GTC", qty, None, price,
                                                                     None, cid))
                    put = time.monotonic()
                    with lock:
                        written[o["orderId"]] = put
                        placed[0] += 1
                    if resp_type != "ACK":  # what POST /api/v3/order does for LIMIT by default (FULL)
                        orders.wait_for_result(o["orderId"], RESULT_WAIT_S)
                    wall, cpu = (time.monotonic() - t0) * 1000, (time.thread_time() - c0) * 1000
                    with lock:
                        request_ms.append(wall)
                        request_cpu_ms.append(cpu)
                except Exception:
                    with lock:
                        errors[0] += 1
            i += 1

    t0 = time.monotonic()
    elapsed = run_threads(trader, threads, seconds, stop)
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
    listen_until[0] = 0.0  # the listener ends before the servers it reads from do
    lt.join(5)
    lat = sorted((settled[o] - written[o]) * 1000 for o in settled if o in written and settled[o] >= written[o])
    return {"orders": placed[0], "errors": errors[0], "seconds": elapsed, "drain_seconds": drained,
            "request_ms": {"p50": statistics.median(request_ms) if request_ms else 0.0,
                           "mean": statistics.fmean(request_ms) if request_ms else 0.0,
                           "cpu_mean": statistics.fmean(request_cpu_ms) if request_cpu_ms else 0.0},
            "orders_per_s": placed[0] / elapsed, "settled_orders_per_s": placed[0] / drained,
            "latency_ms": {"n": len(lat), "p50": statistics.median(lat) if lat else None,
                           "p99": lat[int(len(lat) * 0.99) - 1] if lat else None}}


def _pad_to(build, target: int) -> dict:
    """``build(pad)`` -> request params; the pad (a string length) that makes the
    request's JSON body about ``target`` bytes (what the pipeline's requests of this
    operation averaged)."""
    base = len(json.dumps(build(0), separators=(",", ":")))
    return build(max(0, target - base))


def moto_ceiling(env: dict, mix: list[dict], threads: int, seconds: float = 10.0, batch_limit: int = 500) -> dict:
    """Replay the pipeline's DynamoDB requests (per order: the same operations, in the
    same proportions, on the same kind of table, of the same size) straight at moto
    from ``threads`` threads, as fast as it answers.

    ``mix``: one row per (side, operation) the pipeline made, with ``per_order`` (how
    many per order), ``req_bytes`` (mean request body) and ``items`` (mean items per
    BatchWriteItem).  What each stands for:

    * api PutItem: the conditional put of an intent into the intents table (the one
      with the stream), shaped like ``put_intent``'s;
    * matcher PutItem: the journal's conditional put (JOURNAL table, no stream);
    * BatchWriteItem: that many items per request into the BOOK table, same bytes;
    * GetRecords: ONE consumer (a shared iterator, as the one active matcher reads
      the shard), Limit as the matcher's, over the records the replayed intent puts
      produce -- so each record is returned once and a call returns as many records
      as the pipeline's did on average;
    * UpdateItem: a lease update conditional on owner and counter (the fencing of
      checkpoints and renewals); GetItem: a consistent lease read; Scan / Query /
      Describe*: rare (recovery, shard discovery), replayed as their cheap kin.
    """
    import boto3

    from chalicelib.settings import get_settings
    from matcher.service.obs import count_requests

    s = get_settings()
    kw = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": "us-east-1", "aws_access_key_id": "local",
          "aws_secret_access_key": "local"}
    ops = [m for m in mix if m["per_order"] > 0]
    total_w = sum(m["per_order"] for m in ops)
    done = [0]
    lock = threading.Lock()
    stop = threading.Event()
    setup = boto3.client("dynamodb", **kw)
    arn = setup.describe_table(TableName=s.intents_table)["Table"]["LatestStreamArn"]
    setup_streams = boto3.client("dynamodbstreams", **kw)
    shard = setup_streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    reader = {"it": setup_streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                     ShardIteratorType="LATEST")["ShardIterator"],
              "lock": threading.Lock(), "records": 0}
    leases = [f"ceil:{i}" for i in range(8)]
    for key in leases:
        setup.put_item(TableName=s.leases_table, Item={"lease_key": {"S": key}, "owner": {"S": "ceil"},
                                                        "counter": {"N": "1"}, "expires_ms": {"N": "0"}})
    replay_counter: dict[str, int] = {}
    replay_shape: dict[str, dict] = {}

    def target(m):
        return int(m.get("req_bytes") or 0)

    def one(ddb, streams, m: dict, rng):
        op, side = m["op"], m["side"]
        u = uuid.uuid4().hex
        if op == "dynamodb.PutItem" and side == "api":
            ddb.put_item(**_pad_to(lambda n: {
                "TableName": s.intents_table, "ConditionExpression": "attribute_not_exists(intent_id)",
                "Item": {"intent_id": {"S": f"ceil:{u}"}, "symbol": {"S": "BTCUSDT"}, "account_id": {"N": "9"},
                         "kind": {"S": "NEW"}, "order_id": {"N": "1"}, "payload": {"S": "x" * n},
                         "created_ms": {"N": "1"}}}, target(m)))
        elif op == "dynamodb.PutItem":
            ddb.put_item(**_pad_to(lambda n: {
                "TableName": s.journal_table, "ConditionExpression": "attribute_not_exists(#q)",
                "ExpressionAttributeNames": {"#q": "seq"},
                "Item": {"symbol": {"S": "CEIL"}, "seq": {"N": str(uuid.uuid4().int % 10**18)},
                         "intent_id": {"S": u}, "fencing_token": {"N": "1"}, "body": {"S": "x" * n}}}, target(m)))
        elif op == "dynamodb.BatchWriteItem":
            k = max(1, min(25, round(m.get("items") or 25)))
            per_item = max(0, target(m) // k)

            def build(n):
                return {"RequestItems": {s.book_table: [{"PutRequest": {"Item": {
                    "symbol": {"S": "CEIL"}, "item": {"S": f"order#{u}{j}"}, "seq": {"N": "1"},
                    "fencing_token": {"N": "1"}, "body": {"S": "x" * n}}}} for j in range(k)]}}

            base = len(json.dumps(build(0), separators=(",", ":"))) // k
            ddb.batch_write_item(**build(max(0, per_item - base)))
        elif op == "dynamodbstreams.GetRecords":
            with reader["lock"]:  # one consumer, as the one active matcher
                resp = streams.get_records(ShardIterator=reader["it"], Limit=batch_limit)
                reader["it"] = resp.get("NextShardIterator") or reader["it"]
                reader["records"] += len(resp.get("Records", []))
        elif op == "dynamodb.UpdateItem":
            ddb.update_item(TableName=s.leases_table, Key={"lease_key": {"S": rng.choice(leases)}},
                            UpdateExpression="SET checkpoint = :cp, expires_ms = :exp, finished = :f",
                            ConditionExpression="#o = :me AND #c = :c",
                            ExpressionAttributeNames={"#o": "owner", "#c": "counter"},
                            ExpressionAttributeValues={":me": {"S": "ceil"}, ":c": {"N": "1"},
                                                       ":cp": {"S": str(rng.randint(1, 10**20))},
                                                       ":exp": {"N": "1"}, ":f": {"BOOL": False}})
        elif op == "dynamodb.GetItem":
            ddb.get_item(TableName=s.leases_table, Key={"lease_key": {"S": rng.choice(leases)}},
                         ConsistentRead=True)
        elif op == "dynamodb.Query":
            ddb.query(TableName=s.journal_table, KeyConditionExpression="#s = :s",
                      ExpressionAttributeNames={"#s": "symbol"}, ExpressionAttributeValues={":s": {"S": "NONE"}})
        elif op == "dynamodb.Scan":
            ddb.scan(TableName=s.leases_table, ConsistentRead=True, FilterExpression="begins_with(lease_key, :p)",
                     ExpressionAttributeValues={":p": {"S": "shard:"}})
        else:  # DescribeTable, DescribeStream, GetShardIterator: rare; a cheap read stands in
            ddb.describe_table(TableName=s.leases_table)

    def worker(k: int):
        ddb = boto3.client("dynamodb", **kw)
        streams = boto3.client("dynamodbstreams", **kw)
        with lock:
            count_requests(ddb, replay_counter, replay_shape)
            count_requests(streams, replay_counter, replay_shape)
        rng = random.Random(k)
        while not stop.is_set():
            x = rng.random() * total_w
            for m in ops:
                x -= m["per_order"]
                if x <= 0:
                    break
            one(ddb, streams, m, rng)
            with lock:
                done[0] += 1

    elapsed = run_threads(worker, threads, seconds, stop)  # before reading done[0]: it counts during the run
    rps = done[0] / elapsed
    n = max(1, done[0])
    replay = {k: {"per_request": round(replay_counter[k] / n * total_w, 4),
                  "req_bytes": round(v["req_bytes"] / max(1, replay_counter.get(k, 0))),
                  "resp_bytes": round(v["resp_bytes"] / max(1, replay_counter.get(k, 0)))}
              for k, v in replay_shape.items() if replay_counter.get(k)}
    gr = replay_counter.get("dynamodbstreams.GetRecords", 0)
    return {"requests_per_s": rps, "orders_per_s": rps / total_w, "requests_per_order": total_w,
            "replayed": replay, "records_per_get_records": reader["records"] / gr if gr else None}


def dynamodb_units(api_counter: dict, api_shape: dict, mstats: dict) -> dict[str, float]:
    """Write and read units of the run's DynamoDB requests (front side + matcher), from each
    operation's count and mean request / response bytes (the JSON of the request is a
    little larger than the item DynamoDB bills, so writes are if anything over-counted)."""
    from bench.pricing import rru, wru

    units = {"wru": 0.0, "rru": 0.0}
    for counts, shape in ((api_counter, api_shape), (mstats["requests"], mstats.get("request_shape", {}))):
        for key, count in counts.items():
            service, op = key.split(".", 1)
            if service != "dynamodb" or not count:
                continue
            sh = shape.get(key, {})
            if op == "BatchWriteItem":
                items = sh.get("items") or count
                units["wru"] += items * wru(sh.get("req_bytes", 0) / items)
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                units["wru"] += count * wru(sh.get("req_bytes", 0) / count)
            elif op in ("GetItem", "Query", "Scan"):
                units["rru"] += count * rru(sh.get("resp_bytes", 0) / count)
    return units


def counted_usage(n: int, api_counter: dict, api_shape: dict, mstats: dict, res: dict, log_bytes: float,
                  stage: str):
    """What one order used, from what this run counted (see bench/pricing.py).

    DynamoDB units from each operation's count and mean request / response bytes (the
    JSON of the request is a little larger than the item DynamoDB bills, so writes are
    if anything over-counted); Lambda duration = the mean REST request as run here
    (wall, I/O waits included), with its CPU part stretched to the stage's memory
    size (1,769 MB = one vCPU; at 512 MB the CPU part takes 3.5x as long)."""
    from bench.pricing import PerOrder, lambda_settings

    units = dynamodb_units(api_counter, api_shape, mstats)
    mem, _arch = lambda_settings(stage)
    req = res["request_ms"]
    lambda_ms = req["mean"] + req["cpu_mean"] * max(0.0, 1769 / mem - 1)
    data_api = sum(v for k, v in api_counter.items() if k.startswith("rds-data") and k != "rds-data.autocommit")
    return PerOrder(api_requests=1.0, lambda_ms=lambda_ms, wru=units["wru"] / n, rru=units["rru"] / n,
                    stream_reads=mstats["requests"].get("dynamodbstreams.GetRecords", 0) / n,
                    data_api_calls=data_api / n, log_bytes=log_bytes)


def api_log_bytes_per_request() -> int:
    """CloudWatch Logs bytes one POST /api/v3/order writes: the EMF document the
    middleware flushes (OrdersAccepted + newOrderLatency, measured by producing it
    here) and the Lambda runtime's START/END/REPORT lines (bench/pricing.py)."""
    import contextlib
    import io

    from bench.pricing import LAMBDA_PLATFORM_LOG_BYTES
    from chalicelib.api import observability as obs

    saved = os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            obs.count("OrdersAccepted")
            obs.metric_latency("newOrder", 12.345)
            obs.metrics.flush_metrics(raise_on_empty_metrics=False)
    finally:
        if saved is not None:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = saved
    return len(buf.getvalue().encode()) + LAMBDA_PLATFORM_LOG_BYTES


def start_matcher(menv: dict, log: Path, procs: list) -> subprocess.Popen:
    """``python -m matcher.instrumented`` with ``menv``; stopped with the run's processes."""
    matcher = subprocess.Popen([sys.executable, "-m", "matcher.instrumented"], cwd=str(ROOT), env=menv,
                               stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    procs.insert(0, matcher)  # stopped before the servers it reads from
    return matcher


def matcher_env(env: dict, stats_file: Path) -> dict:
    return {**os.environ, **env, "MATCHER_STATS_FILE": str(stats_file), "MATCHER_LOG_LEVEL": "INFO",
            "MATCHER_METRICS_MS": "2000", "POWERTOOLS_METRICS_DISABLED": "true", "MATCHER_RECONCILE_MS": "0"}


def rest_phase(args, env: dict, tmp: Path, accounts: list[int], procs: list) -> None:
    """The REST path: orders through ``place_order`` in this process (as the API Lambda
    runs it), the moto ceiling, and the REST cost line."""
    stats_file = tmp / "matcher-stats.json"
    api_counter: dict[str, int] = {}
    api_shape: dict[str, dict] = {}
    count_clients(api_counter, api_shape)
    menv = matcher_env(env, stats_file)
    matcher = start_matcher(menv, tmp / "matcher.log", procs)
    time.sleep(3)
    print(f"pipeline: {args.seconds:.0f} s of crossing LIMIT orders from {args.threads} threads ...", flush=True)
    res = run_pipeline(args.seconds, args.threads, accounts, args.resp_type)
    matcher.terminate()
    matcher.wait(30)
    mstats = json.loads(stats_file.read_text())
    n = res["orders"]
    ddb_api = sum(v for k, v in api_counter.items() if k.startswith("dynamodb."))
    ddb_matcher = sum(v for k, v in mstats["requests"].items())
    ddb_writes_m = sum(v for k, v in mstats["requests"].items()
                       if k.split(".")[1] in ("PutItem", "BatchWriteItem", "UpdateItem"))
    dataapi_tx = api_counter.get("rds-data.BeginTransaction", 0) + api_counter.get("rds-data.autocommit", 0)
    # the request mix per order, by side and operation, with each one's mean size
    mix = []
    for side, counts, shape in (("api", {k: v for k, v in api_counter.items() if k.startswith("dynamodb")},
                                 api_shape),
                                ("matcher", mstats["requests"], mstats.get("request_shape", {}))):
        for k, v in sorted(counts.items()):
            sh = shape.get(k, {})
            mix.append({"side": side, "op": k, "per_order": v / n, "req_bytes": sh.get("req_bytes", 0) / v,
                        "resp_bytes": sh.get("resp_bytes", 0) / v, "items": sh.get("items", 0) / v})
    print(f"moto ceiling: replaying the same DynamoDB request mix for {args.ceiling_seconds:.0f} s ...",
          flush=True)
    ceiling = moto_ceiling(env, mix, args.threads, args.ceiling_seconds,
                           int(menv.get("MATCHER_BATCH_LIMIT") or 500))
    out = {
        **res,
        "dynamodb_requests_per_order": {"api": ddb_api / n, "matcher": ddb_matcher / n,
                                        "matcher_writes": ddb_writes_m / n,
                                        "total": (ddb_api + ddb_matcher) / n},
        "postgres_transactions_per_order": {"api_data_api": dataapi_tx / n,
                                            "matcher": mstats["pg_transactions"] / n,
                                            "data_api_calls": sum(v for k, v in api_counter.items()
                                                                  if k.startswith("rds-data")
                                                                  and k != "rds-data.autocommit") / n},
        "matcher": {"batches": mstats["batches"], "pg_transactions": mstats["pg_transactions"],
                    "intents_per_batch": mstats["intents"] / max(1, mstats["batches"]),
                    "trades": mstats["trades"], "requests": mstats["requests"]},
        "api_requests": api_counter,
        "request_mix": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()} for m in mix],
        "records_per_get_records": mstats.get("records", 0) / max(1, mstats["requests"].get(
            "dynamodbstreams.GetRecords", 0)),
        "moto_ceiling": ceiling,
        # a replay that completed no request measured no ceiling: reported as such, not divided by
        "ratio_to_ceiling": res["orders_per_s"] / ceiling["orders_per_s"] if ceiling["orders_per_s"] else None,
    }
    matcher_log = (tmp / "matcher.log").stat().st_size
    api_log = api_log_bytes_per_request()
    usage = counted_usage(n, api_counter, api_shape, mstats, res, api_log + matcher_log / n, args.stage)
    out["cost_usage_per_order"] = {**usage.__dict__, "api_log_bytes": api_log, "matcher_log_bytes": matcher_log / n}
    print(json.dumps(out, indent=2, default=str))
    print(f"\nsustained {res['orders_per_s']:.1f} orders/s ({n} orders in {res['seconds']:.0f} s; "
          f"settled throughput {res['settled_orders_per_s']:.1f}/s); latency intent->settled "
          + (f"p50 {res['latency_ms']['p50']:.0f} ms p99 {res['latency_ms']['p99']:.0f} ms"
             if res["latency_ms"]["n"] else "not measured (no trade message seen)"))
    print(f"DynamoDB requests/order: API {ddb_api / n:.2f} + matcher {ddb_matcher / n:.3f} "
          f"(matcher writes {ddb_writes_m / n:.3f}); PostgreSQL transactions/order: API {dataapi_tx / n:.2f}"
          f" + matcher {mstats['pg_transactions'] / n:.3f} ({mstats['pg_transactions']} for"
          f" {mstats['batches']} batches)")
    for m in mix:
        if m["per_order"] >= 0.01:
            r = ceiling["replayed"].get(m["op"], {})
            print(f"  {m['side']:>7} {m['op']:<30} {m['per_order']:.3f}/order  {m['req_bytes']:7.0f} B"
                  + (f"  {m['items']:.1f} items" if m["items"] else "")
                  + (f"  {m['resp_bytes']:7.0f} B back" if m["op"].endswith("GetRecords") else "")
                  + f"   | replay {r.get('req_bytes', 0)} B" + (f", {r.get('resp_bytes', 0)} B back"
                                                                if m["op"].endswith("GetRecords") else ""))
    if out["ratio_to_ceiling"] is None:
        print("moto ceiling for this mix: not measured (no request of the replay completed)")
    else:
        print(f"moto ceiling for this mix: {ceiling['orders_per_s']:.1f} orders/s "
              f"({ceiling['requests_per_s']:.0f} req/s); pipeline = {out['ratio_to_ceiling']:.0%} of it")
    from bench.pricing import report as cost_report

    print(f"per order, counted: {usage.wru:.3f} WRU, {usage.rru:.3f} RRU, {usage.stream_reads:.4f} GetRecords,"
          f" {usage.data_api_calls:.2f} Data API calls, REST request {res['request_ms']['mean']:.0f} ms mean"
          f" ({res['request_ms']['cpu_mean']:.1f} ms CPU; {args.resp_type}) -> {usage.lambda_ms:.0f} ms billed at"
          f" the stage's size, logs {api_log} B API + {matcher_log / n:.0f} B matcher")
    print(cost_report(usage, args.stage))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--ceiling-seconds", type=float, default=15)
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--resp-type", choices=("FULL", "ACK"), default="FULL",
                    help="FULL: each request also waits for the matcher's result, as POST /api/v3/order does for"
                         " LIMIT by default; ACK: it returns once the intent is written")
    ap.add_argument("--stage", choices=("dev", "prod"), default="prod", help="whose Lambda size and sampling to price")
    ap.add_argument("--path", choices=("rest", "ws", "both"), default="rest",
                    help="rest: orders as the REST API's Lambda places them; ws: over the WebSocket API of a real"
                         " gateway process (bench/wsphase.py); both: one after the other, on the same servers")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds-long run the test suite makes so the script cannot rot (figures meaningless)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds, args.ceiling_seconds, args.threads, args.accounts = 3, 2, 2, 4
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    env, procs, servers, url, _ = start_servers(tmp)
    try:
        accounts = make_accounts(args.accounts)
        if args.path in ("rest", "both"):
            rest_phase(args, env, tmp, accounts, procs)
        if args.path in ("ws", "both"):
            from bench.wsphase import ws_phase

            ws_phase(args, env, tmp, accounts, procs)
        return 0
    finally:
        stop_all(procs, servers)


if __name__ == "__main__":
    sys.exit(main())
