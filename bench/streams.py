"""Stream gateway fan-out: N subscribers to ``btcusdt@depth@100ms`` + ``btcusdt@trade``
on one ``python -m gateway`` process.

The publisher is the matcher's own publishing step (``chalicelib.marketdata``:
``record_trades`` + ``publish_depth``, i.e. what the matcher calls after each settled
batch) driven at ``--rate`` batches a second on embedded Redis (or ``REDIS_URL``).
Latency is publish -> client receive: the depth event's ``E`` and the trade's ``T``
are the publish time (ms; one clock, one machine).  Subscribers run in
``--client-procs`` separate processes so their CPU is not the gateway's.  Per
connection: the gateway's RSS growth from before the clients connected, and its CPU
time during the publishing window.  The subscriber processes run at nice 19, below the
gateway, and only stamp what they receive while measuring, parsing it afterwards (see
``_client_main``), so the harness does not starve what it measures.  On a shared
machine a nice-19 process may still wait for a CPU before it can stamp, so the
clients' figures are an upper bound; their CPU, the gateway's own
publish-to-written time (``/stats``) and the machine's 1-minute load average are printed
beside each figure.

    python bench/streams.py                  # N = 100, 1000, 5000; 3 runs each
    python bench/streams.py -n 1000 --runs 5 --seconds 20
    python bench/streams.py --smoke          # seconds long, figures meaningless (the suite runs it)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STREAMS = "btcusdt@depth@100ms/btcusdt@trade"
PREFIX = "benchstreams:"


# -- the gateway process ----------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def _proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_gateway(env: dict, log: Path, profile: Path | None = None) -> tuple[subprocess.Popen, int]:
    import urllib.request

    port = _free_port()
    wrap = ["-m", "cProfile", "-o", str(profile)] if profile else []
    proc = subprocess.Popen([sys.executable, *wrap, "-m", "gateway", "--port", str(port), "--log-level", "WARNING"],
                            cwd=str(ROOT), env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gateway did not become healthy")


# -- subscribers (child processes) ------------------------------------------------------
def _client_main(url: str, n: int, ready, go, go_ms, stop, out) -> None:
    """``n`` connections; after ``go``, record publish->receive latencies (ms).

    Each connection is websockets' sans-I/O ``ClientProtocol`` on a bare asyncio
    protocol (the library's own handshake, framing and automatic pongs, without the
    per-message futures of its asyncio client).  While measuring, a connection only
    stamps and keeps what it receives; the frames are parsed (by the same protocol, in
    order) after the window.  So the receive time is when the bytes reached the
    process, not when its parser got to them: the subscribers cost the machine little
    CPU while the gateway is measured (a few % of a core per thousand), and thousands of
    them fit in a few processes on a shared machine."""
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.protocol import State
    from websockets.uri import parse_uri

    os.nice(19 - os.nice(0))  # the measuring harness yields the CPU to the gateway it measures
    uri = parse_uri(url)
    lat: tuple[list, list] = ([], [])  # depth, trade
    opened = [0]
    holding = [False]  # the measuring window: stamp and keep, parse later
    last_rx = [0.0]
    subscribers: list = []

    def record(msg: str, now: float) -> None:
        trade = "@trade" in msg[:40]
        i = msg.find('"T":') if trade else msg.find('"E":')
        if i > 0:
            j = k = i + 4
            while msg[k].isdigit():
                k += 1
            published = int(msg[j:k])
            if published >= go_ms.value:  # not the warm-up's backlog
                (lat[1] if trade else lat[0]).append(now - published)

    class Subscriber(asyncio.Protocol):
        def __init__(self):
            self.ws = ClientProtocol(uri, max_size=None)
            self.transport: asyncio.Transport | None = None
            self.held: list[tuple[float, bytes]] = []
            subscribers.append(self)

        def connection_made(self, transport):
            self.transport = transport
            self.ws.send_request(self.ws.connect())
            self.flush()

        def data_received(self, data: bytes):
            now = time.time() * 1000
            last_rx[0] = now
            if holding[0]:
                self.held.append((now, data))
                return
            self.parse(now, data)

        def parse(self, now: float, data: bytes):
            was_open = self.ws.state is State.OPEN
            self.ws.receive_data(data)
            for ev in self.ws.events_received():
                if isinstance(ev, Frame) and ev.opcode is Opcode.TEXT and go.is_set():
                    record(str(ev.data, "utf-8"), now)
            if not was_open and self.ws.state is State.OPEN:
                opened[0] += 1
            self.flush()

        def flush(self):
            if self.transport is None:  # only called from connection_made on
                raise RuntimeError("flush before the connection was made")
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)

    async def run():
        loop = asyncio.get_running_loop()
        transports = []
        for i in range(n):
            t, _ = await loop.create_connection(Subscriber, uri.host, uri.port)
            transports.append(t)
            if i % 50 == 49:
                await asyncio.sleep(0.02)
        deadline = time.time() + 120
        while opened[0] < n:
            if time.time() > deadline:
                raise SystemExit(f"only {opened[0]} of {n} subscribers opened")
            await asyncio.sleep(0.05)
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.005)
        holding[0] = True
        while not stop.is_set():
            await asyncio.sleep(0.1)
        drain_by = time.time() + 60  # what is still on its way (a gateway behind) is received too
        while time.time() * 1000 - last_rx[0] < 1000 and time.time() < drain_by:
            await asyncio.sleep(0.1)
        for sub in subscribers:  # in one step: nothing new arrives in between
            for now, data in sub.held:
                sub.parse(now, data)
            sub.held.clear()
        holding[0] = False
        for t in transports:
            t.close()
        out.put(lat)

    asyncio.run(run())


# -- the publisher: the matcher's publishing step ------------------------------------------
def publish_loop(redis, seconds: float, rate: float, seed: int = 7) -> int:
    from chalicelib import marketdata as md

    rng = random.Random(seed)
    bids = {Decimal(30000) - Decimal("0.01") * i: Decimal("0.5") for i in range(1, 51)}
    asks = {Decimal(30000) + Decimal("0.01") * i: Decimal("0.5") for i in range(1, 51)}
    last = md.read_last(redis, "BTCUSDT", PREFIX)
    trade_id = int(last["lastId"]) + 1 if last else 1
    snap = md.read_depth(redis, "BTCUSDT", PREFIX)
    update_id = snap["lastUpdateId"] + 1 if snap else 1
    batches = 0
    t_end = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < t_end:
        for side in (bids, asks):
            for _ in range(3):
                p = rng.choice(list(side))
                side[p] = Decimal("0.00001") * rng.randint(1, 100000)
        now = int(time.time() * 1000)
        md.record_trades(redis, "BTCUSDT", [md.Trade(trade_id, Decimal(30000), Decimal("0.001"), Decimal(30),
                                                     now, rng.random() < 0.5, trade_id)], prefix=PREFIX)
        md.publish_depth(redis, "BTCUSDT", update_id, sorted(bids.items(), reverse=True), sorted(asks.items()),
                         time_ms=int(time.time() * 1000), prefix=PREFIX)
        trade_id += 1
        update_id += 3
        batches += 1
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    return batches


def run_once(redis_url: str, n: int, seconds: float, rate: float, client_procs: int, tmp: Path,
             profile: Path | None = None) -> dict:
    import redis as redis_lib

    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": PREFIX, "EXCHANGE_STAGE": "local",
           "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
    gw, port = start_gateway(env, tmp / f"gateway-{n}.log", profile)
    r = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    try:
        time.sleep(0.5)
        rss0 = _proc_rss_kb(gw.pid)
        ctx = mp.get_context("spawn")
        go, stop = ctx.Event(), ctx.Event()
        go_ms = ctx.Value("d", 0.0)
        out = ctx.Queue()
        procs, readies = [], []
        per = [n // client_procs + (1 if i < n % client_procs else 0) for i in range(client_procs)]
        for k in per:
            if not k:
                continue
            ready = ctx.Event()
            p = ctx.Process(target=_client_main, args=(f"ws://127.0.0.1:{port}/stream?streams={STREAMS}", k,
                                                      ready, go, go_ms, stop, out), daemon=True)
            p.start()
            procs.append(p)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(180):
                raise SystemExit("subscribers did not connect in time")
        time.sleep(1.0)
        rss1 = _proc_rss_kb(gw.pid)
        publish_loop(r, 1.0, rate)  # warm-up, not measured
        go_ms.value = float(int(time.time() * 1000))
        go.set()
        cpu0, wait0, t0 = _proc_cpu_s(gw.pid), _proc_wait_s(gw.pid), time.monotonic()
        clients0 = sum((_proc_cpu_s(p.pid) for p in procs if p.pid is not None), 0.0)
        batches = publish_loop(r, seconds, rate)
        cpu1, wait1, t1 = _proc_cpu_s(gw.pid), _proc_wait_s(gw.pid), time.monotonic()
        clients1 = sum((_proc_cpu_s(p.pid) for p in procs if p.pid is not None), 0.0)
        load = os.getloadavg()[0]
        time.sleep(0.5)  # in-flight messages arrive
        stop.set()
        depth_lat: list[float] = []
        trade_lat: list[float] = []
        for _ in procs:
            d, t = out.get(timeout=180)
            depth_lat.extend(d)
            trade_lat.extend(t)
        for p in procs:
            p.join(10)
        rss2 = _proc_rss_kb(gw.pid)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=120) as resp:  # a gateway behind
            fanout = json.loads(resp.read())["fanoutMs"]
    finally:
        gw.terminate()
        gw.wait(10)
    lat = sorted(depth_lat + trade_lat)
    depth_lat.sort()
    trade_lat.sort()
    expected = batches * 2 * n

    def q(values, f):
        return values[min(len(values) - 1, int(f * len(values)))] if values else float("nan")

    return {"n": n, "batches": batches, "received": len(lat), "expected": expected, "p50": q(lat, 0.50),
            "p99": q(lat, 0.99), "max": lat[-1] if lat else float("nan"),
            "depth_p99": q(depth_lat, 0.99), "trade_p99": q(trade_lat, 0.99), "gw_p99": fanout["p99"] or 0.0,
            "cpu_pct": (cpu1 - cpu0) / (t1 - t0) * 100, "clients_cpu_pct": (clients1 - clients0) / (t1 - t0) * 100,
            "load": load, "wait_pct": (wait1 - wait0) / (t1 - t0) * 100,
            "us_per_msg": (cpu1 - cpu0) * 1e6 / max(1, len(lat)),
            "kb_per_conn": (max(rss1, rss2) - rss0) / n, "rss_mb": max(rss1, rss2) / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, action="append", help="subscribers (repeatable; default 100, 1000, 5000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=8.0, help="published batches (trade + depth diff) per second")
    ap.add_argument("--client-procs", type=int, default=4)
    ap.add_argument("--profile", metavar="PREFIX",
                    help="run the gateway under cProfile, stats to PREFIX.<n>.<run> (pstats format)")
    ap.add_argument("--smoke", action="store_true", help="seconds long; figures meaningless")
    args = ap.parse_args(argv)
    sizes = args.n or [100, 1000, 5000]
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(sizes) + 1024  # the gateway's sockets (the clients' are split over --client-procs)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))
    if args.smoke:
        sizes, args.runs, args.seconds, args.client_procs = [20], 1, 2.0, 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    tmp.chmod(0o755)
    from devstack import redisserver

    server = redisserver.start(os.environ.get("REDIS_URL"), tmp / "redis")
    try:
        print(f"gateway fan-out: {STREAMS}, {args.rate:g} batches/s (1 trade + 1 depth diff each), "
              f"{args.seconds:g} s per run, subscribers in {args.client_procs} processes")
        print(f"{'subscribers':>11} {'run':>3} {'recv/expected':>15} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
              f"{'gw CPU %':>8} {'KB/conn':>8} {'gw RSS MB':>9} {'p99 depth/trade':>15} {'gw-side p99':>11} "
              f"{'gw CPU-wait %':>13} {'clients CPU %':>13} {'load 1m':>7}")
        for n in sizes:
            results = []
            for run in range(args.runs):
                res = run_once(server.url, n, args.seconds, args.rate, args.client_procs, tmp,
                               Path(f"{args.profile}.{n}.{run + 1}") if args.profile else None)
                results.append(res)
                print(f"{n:>11} {run + 1:>3} {res['received']:>7}/{res['expected']:<7} {res['p50']:>7.1f} "
                      f"{res['p99']:>7.1f} {res['max']:>7.1f} {res['cpu_pct']:>8.1f} {res['kb_per_conn']:>8.1f} "
                      f"{res['rss_mb']:>9.1f} {res['depth_p99']:>7.1f}/{res['trade_p99']:<7.1f} {res['gw_p99']:>11.1f} "
                      f"{res['wait_pct']:>13.1f} {res['clients_cpu_pct']:>13.1f} {res['load']:>7.2f}", flush=True)
            med = {k: statistics.median(r[k] for r in results)
                   for k in ("p50", "p99", "cpu_pct", "kb_per_conn", "us_per_msg", "depth_p99", "trade_p99", "gw_p99",
                             "wait_pct", "clients_cpu_pct", "load")}
            print(f"median of {len(results)} runs, {n} subscribers: p50 {med['p50']:.1f} ms, p99 {med['p99']:.1f} ms "
                  f"(depth {med['depth_p99']:.1f}, trade {med['trade_p99']:.1f}; publish to written on every socket "
                  f"{med['gw_p99']:.1f}), gateway CPU {med['cpu_pct']:.1f} % "
                  f"of one core = {med['us_per_msg']:.1f} us per delivered message, "
                  f"{med['kb_per_conn']:.1f} KB per connection; the gateway waited for a CPU {med['wait_pct']:.0f} % "
                  f"of the time; the subscriber processes used {med['clients_cpu_pct']:.0f} % of one core; "
                  f"load average (1 min) {med['load']:.2f} on {os.cpu_count()} cores", flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
