#!/usr/bin/env python3
"""Matching-engine benchmark driver (a script, not a test).  See bench/README.md.

    python bench/engine/run.py                 # both workloads, 1M commands, all engines
    python bench/engine/run.py --quick         # 100k commands smoke run
    python bench/engine/run.py --deep          # deep workload only
    python bench/engine/run.py --engines ours,orderly-chaos --runs 3 --json out.json

Engines are adapter modules in bench/engine/adapters/ (see adapters/base.py).
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from array import array
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import workload as W  # noqa: E402

# engine name -> adapter module (under bench.engine.adapters)
ENGINES = {
    "ours": "ours",
    "barebones": "barebones",
    "cython-orderbook": "peer_cython_orderbook",
    "lightmatchingengine": "peer_lightmatchingengine",
    "orderly-chaos": "peer_orderly_chaos",
    "akhil4n-orderbook": "peer_akhil4n_orderbook",
    "pyorderbook": "peer_pyorderbook",
}
PEERS = ["cython-orderbook", "lightmatchingengine", "orderly-chaos", "akhil4n-orderbook", "pyorderbook"]
DEFAULT_ENGINES = ["ours", "barebones"] + PEERS
# "reference" (the generator's own RefBook) is available but not run by default.


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------------------
# Adapter loading
# ---------------------------------------------------------------------------
class RefAdapter(W.RefBook):
    name = "reference"

    def __init__(self, record_trades: bool = False):
        super().__init__(record_trades=record_trades)


_LOADED: dict = {}


def load_adapter(engine: str):
    """Return (adapter class, note) or (None, reason); loaded once per process
    so every workload in a run sees the same set of engines."""
    if engine not in _LOADED:
        _LOADED[engine] = _load_adapter(engine)
    return _LOADED[engine]


def _load_adapter(engine: str):
    if engine == "reference":
        return RefAdapter, ""
    mod_name = ENGINES.get(engine, engine)
    try:
        mod = importlib.import_module(f"bench.engine.adapters.{mod_name}")
    except ModuleNotFoundError as e:
        if e.name and e.name.endswith(f"adapters.{mod_name}"):
            return None, f"adapter bench/engine/adapters/{mod_name}.py not found"
        return None, f"import failed: {e!r}"
    except Exception as e:
        return None, f"import failed: {type(e).__name__}: {e}"
    cls = getattr(mod, "ADAPTER", None)
    if cls is None:  # fall back: first class defining limit/cancel/market
        for v in vars(mod).values():
            if isinstance(v, type) and all(hasattr(v, m) for m in ("limit", "cancel", "market", "book")) \
                    and v.__module__ == mod.__name__:
                cls = v
                break
    if cls is None:
        return None, "adapter module defines no ADAPTER class"
    return cls, getattr(mod, "SEMANTICS_NOTE", "") or ""


def engine_label(cls, engine):
    return getattr(cls, "name", engine) or engine


# ---------------------------------------------------------------------------
# Replay helpers
# ---------------------------------------------------------------------------
def replay(a, cmds):
    run = getattr(a, "run", None)
    if run is not None:
        run(cmds)
        return
    lim, can, mkt = a.limit, a.cancel, a.market
    for c in cmds:
        t = c[0]
        if t == 'L':
            lim(c[1], c[2], c[3], c[4])
        elif t == 'C':
            can(c[1])
        else:
            mkt(c[1], c[2], c[3])


def timed_run(cls, cmds):
    a = cls(record_trades=False)
    gc.collect()
    t0 = time.perf_counter()
    replay(a, cmds)
    dt = time.perf_counter() - t0
    del a
    gc.collect()
    return dt


def latency_pass(cls, cmds):
    """Per-command latency (ns) with perf_counter_ns around each command.
    Includes the timer pair and one adapter method call."""
    a = cls(record_trades=False)
    lim, can, mkt = a.limit, a.cancel, a.market
    now = time.perf_counter_ns
    out = array('q', bytes(8 * len(cmds)))
    i = 0
    gc.collect()
    for c in cmds:
        t = c[0]
        if t == 'L':
            t0 = now()
            lim(c[1], c[2], c[3], c[4])
            t1 = now()
        elif t == 'C':
            t0 = now()
            can(c[1])
            t1 = now()
        else:
            t0 = now()
            mkt(c[1], c[2], c[3])
            t1 = now()
        out[i] = t1 - t0
        i += 1
    del a
    s = sorted(out)
    n = len(s)

    def pct(q):
        return s[min(n - 1, int(q * n))] / 1000.0
    return {"p50_us": pct(0.50), "p99_us": pct(0.99), "p999_us": pct(0.999), "max_us": s[-1] / 1000.0}


def timer_overhead_ns():
    now = time.perf_counter_ns
    best = []
    for _ in range(5):
        t = now()
        for _ in range(100_000):
            now()
        best.append((now() - t) / 100_000)
    return min(best)


def check_pass(cls, wl):
    """Run with trade recording; compare to the reference trades/book."""
    a = cls(record_trades=True)
    replay(a, wl.commands)
    trades = [tuple(int(x) for x in t) for t in a.trades()]
    bids, asks = a.book()
    book = ([tuple(map(int, x)) for x in bids], [tuple(map(int, x)) for x in asks])
    resting = a.resting_count()
    del a
    exp_trades = [tuple(t) for t in wl.trades]
    exp_book = ([tuple(x) for x in wl.book[0]], [tuple(x) for x in wl.book[1]])
    problems = []
    if trades != exp_trades:
        i = next((k for k, (x, y) in enumerate(zip(trades, exp_trades, strict=False)) if x != y),
                 min(len(trades), len(exp_trades)))
        problems.append(f"trades differ at #{i}: got {trades[i] if i < len(trades) else None} "
                        f"expected {exp_trades[i] if i < len(exp_trades) else None} "
                        f"({len(trades)} vs {len(exp_trades)} trades)")
    if book != exp_book:
        problems.append(f"final book differs (levels {len(book[0])}+{len(book[1])} vs "
                        f"{len(exp_book[0])}+{len(exp_book[1])}; top bid {book[0][:1]} vs {exp_book[0][:1]}, "
                        f"top ask {book[1][:1]} vs {exp_book[1][:1]})")
    if resting != wl.resting:
        problems.append(f"resting_count {resting} vs {wl.resting}")
    return {"n_trades": len(trades), "volume": sum(t[3] for t in trades), "ok": not problems,
            "problems": problems}


# ---------------------------------------------------------------------------
# Memory: bytes per resting order, measured in a fresh subprocess
# ---------------------------------------------------------------------------
def _statm_rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mem_child(engine: str, n: int, what: str) -> dict:
    """Build a book with n resting orders (commands generated lazily inside
    the measured window, so retained ints count and command tuples don't)."""
    import tracemalloc
    cls, note = load_adapter(engine)
    if cls is None:
        return {"error": note}
    a0 = cls(record_trades=False)  # warm imports / lazy init
    del a0
    gc.collect()
    if what == "tracemalloc":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    else:
        base = _statm_rss()
    t0 = time.perf_counter()
    a = cls(record_trades=False)
    lim = a.limit
    for _, oid, is_buy, price, qty in W.resting_build_iter(n):
        lim(oid, is_buy, price, qty)
    gc.collect()
    if what == "tracemalloc":
        used = tracemalloc.get_traced_memory()[0] - base
    else:
        used = _statm_rss() - base
    dt = time.perf_counter() - t0
    cnt = a.resting_count()
    return {"bytes_per_order": used / n, "resting": cnt, "seconds": dt}


def measure_memory(engine: str, n: int, timeout: float) -> dict:
    res: dict[str, float | str | None] = {}  # bytes per order (None: not measured), seconds, why skipped
    for what in ("tracemalloc", "rss"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_mem", engine, "--_mem-what", what,
               "--mem-orders", str(n)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            res[what] = None
            res[f"{what}_skip"] = f"skipped: building {n:,} resting orders took > {timeout:.0f}s"
            continue
        line = (p.stdout.strip().splitlines() or [""])[-1]
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            res[what] = None
            res[f"{what}_skip"] = f"failed: {(p.stderr or p.stdout).strip()[-300:]}"
            continue
        if "error" in d:
            res[what] = None
            res[f"{what}_skip"] = d["error"]
        elif d["resting"] != n:
            res[what] = d["bytes_per_order"]
            res[f"{what}_skip"] = f"warning: {d['resting']:,} resting, expected {n:,}"
        else:
            res[what] = d["bytes_per_order"]
            res[f"{what}_seconds"] = d["seconds"]
    return res


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def fmt_int(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_f(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"


def print_table(title, rows, ours_label):
    try:
        from rich.console import Console
        from rich.table import Table
        t = Table(title=title, title_justify="left")
        cols = ["engine", "cmds/s median", "min", "max", "runs", "p50 µs", "p99 µs", "p99.9 µs",
                "trades", "volume", "B/order tm", "B/order rss", "matches ref", "ours ÷ engine"]
        for c in cols:
            t.add_column(c, justify="left" if c in ("engine", "matches ref") else "right")
        for r in rows:
            t.add_row(*r)
        Console(width=200).print(t)
    except Exception:  # plain fallback
        print(title)
        for r in rows:
            print("  " + " | ".join(r))


def bench_workload(kind, params, engines, args, results):
    log(f"\n=== workload '{kind}': {params.n:,} commands, seed {params.seed}, "
        f"distance mean {params.mean:g} cap {params.cap} ===")
    wl = W.load_or_generate(params, use_cache=not args.no_cache, log=log)
    st = wl.stats
    log(f"  reference: {wl.n_trades:,} trades ({wl.n_trades / params.n:.3f}/cmd), volume {wl.volume:,}, "
        f"final resting {wl.resting:,}, avg resting {st['avg_resting']:,.0f}, avg levels {st['avg_levels']:,.0f}; "
        f"mix L {st['limits']:,} (crossing {st['crossing_limits']:,}) C {st['cancels']:,} M {st['markets']:,}")
    cmds = wl.commands
    out = {"params": vars(params) if hasattr(params, "__dict__") else params.__dict__,
           "reference": {"n_trades": wl.n_trades, "volume": wl.volume, "resting": wl.resting, "stats": st},
           "engines": {}}
    live = []  # (engine, cls, record)
    for engine in engines:
        cls, note = load_adapter(engine)
        if cls is None:
            log(f"  [{engine}] skipped: {note}")
            out["engines"][engine] = {"skipped": note}
            continue
        label = engine_label(cls, engine)
        r = {"label": label, "note": note, "times": []}
        out["engines"][engine] = r
        log(f"  [{label}]" + (f" note: {note}" if note else ""))
        try:
            if not args.no_check:
                t = time.perf_counter()
                chk = check_pass(cls, wl)
                r["check"] = chk
                log(f"    check: {'OK' if chk['ok'] else 'MISMATCH'} ({chk['n_trades']:,} trades, "
                    f"vol {chk['volume']:,}) in {time.perf_counter() - t:.1f}s")
                for pmsg in chk["problems"]:
                    log(f"      - {pmsg}")
                gc.collect()
            if not args.no_latency:
                lat = latency_pass(cls, cmds)
                r["latency"] = lat
                log(f"    latency p50 {lat['p50_us']:.2f}µs p99 {lat['p99_us']:.2f}µs p99.9 {lat['p999_us']:.2f}µs")
            gc.collect()
            live.append((engine, cls, r))
        except Exception as e:
            r["error"] = f"{type(e).__name__}: {e}"
            log(f"    FAILED: {r['error']}")
            if args.verbose:
                traceback.print_exc()
    # Throughput: round-robin (run i of every engine, then run i+1), so that
    # load drift on a shared machine hits all engines alike and ratios hold.
    for i in range(args.runs):
        for engine, cls, r in live:
            if r.get("error") or r.get("runs_cut"):
                continue
            try:
                dt = timed_run(cls, cmds)
            except Exception as e:
                r["error"] = f"{type(e).__name__}: {e}"
                log(f"    [{engine}] FAILED: {r['error']}")
                continue
            r["times"].append(dt)
            log(f"  run {i + 1}/{args.runs} [{r['label']}]: {dt:.2f}s = {params.n / dt:,.0f} cmds/s")
            if dt > args.slow and i + 1 < args.runs:
                log(f"    (slow engine: no more runs; a run took > --slow {args.slow:g}s)")
                r["runs_cut"] = True
    for _engine, _cls, r in live:
        if r["times"]:
            rates = [params.n / t for t in r["times"]]
            r["rates"] = rates
            r["median"] = statistics.median(rates)
            r["min"], r["max"] = min(rates), max(rates)
    results[kind] = out
    return out


def add_memory(results, engines, args):
    mem: dict[str, dict] = {}
    if args.no_memory:
        return mem
    log(f"\n=== bytes per resting order at {args.mem_orders:,} resting orders (fresh subprocess each) ===")
    for engine in engines:
        cls, note = load_adapter(engine)
        if cls is None:
            continue
        m = measure_memory(engine, args.mem_orders, args.mem_timeout)
        mem[engine] = m
        msg = f"  [{engine}] tracemalloc {fmt_f(m.get('tracemalloc'))} B/order, RSS {fmt_f(m.get('rss'))} B/order"
        for k in ("tracemalloc_skip", "rss_skip"):
            if k in m:
                msg += f" ({k.split('_')[0]}: {m[k]})"
        log(msg)
    results["memory"] = {"orders": args.mem_orders, "engines": mem}
    return mem


def render(results, engines, args):
    mem = results.get("memory", {}).get("engines", {})
    for kind in ("default", "deep"):
        if kind not in results:
            continue
        wr = results[kind]
        er = wr["engines"]
        ours = er.get("ours", {}).get("median")
        rows = []
        for engine in engines:
            r = er.get(engine, {})
            label = r.get("label", engine)
            if "skipped" in r:
                rows.append([label, "n/a"] + [""] * 11 + ["skipped"])
                continue
            if "median" not in r:
                rows.append([label, "error"] + [""] * 12)
                continue
            lat = r.get("latency", {})
            chk = r.get("check")
            m = mem.get(engine, {})
            match = "n.a." if chk is None else ("yes" if chk["ok"] else "NO")
            ratio = "-" if ours is None else f"{ours / r['median']:.2f}x"
            rows.append([label, fmt_int(r["median"]), fmt_int(r["min"]), fmt_int(r["max"]), str(len(r["rates"])),
                         fmt_f(lat.get("p50_us"), 2), fmt_f(lat.get("p99_us"), 2), fmt_f(lat.get("p999_us"), 2),
                         fmt_int(chk["n_trades"]) if chk else "-", fmt_int(chk["volume"]) if chk else "-",
                         ("native" if m.get("tracemalloc") is not None and m["tracemalloc"] < 1
                          and (m.get("rss") or 0) > 1 else fmt_f(m.get("tracemalloc"), 0)),
                         fmt_f(m.get("rss"), 0), match, ratio])
        p = wr["params"]
        print()
        print_table(f"Workload '{kind}': {p['n']:,} cmds (seed {p['seed']}, mean {p['mean']:g}, cap {p['cap']}); "
                    f"reference {wr['reference']['n_trades']:,} trades, volume {wr['reference']['volume']:,}",
                    rows, "ours")
        peers = [(er[e]["median"], e) for e in PEERS if e in er and "median" in er[e]]
        if peers:
            best, be = max(peers)
            line = f"  fastest peer: {be} {best:,.0f} cmds/s"
            if ours:
                line += (f"; ours {ours:,.0f} cmds/s = {ours / best:.2f}x  "
                         f"(targets: >= 600,000 cmds/s {'MET' if ours >= 600_000 else 'NOT met'}, "
                         f">= 1.5x fastest peer {'MET' if ours >= 1.5 * best else 'NOT met'})")
            print(line)
        for e in engines:
            if "skipped" in er.get(e, {}):
                print(f"  skipped [{e}]: {er[e]['skipped']}")
        notes = [(e, er[e]["note"]) for e in engines if er.get(e, {}).get("note")]
        for e, n in notes:
            print(f"  note [{e}]: {n}")
        for e in engines:
            chk = er.get(e, {}).get("check")
            if chk and not chk["ok"]:
                print(f"  MISMATCH [{e}]: " + "; ".join(chk["problems"]))
            if er.get(e, {}).get("error"):
                print(f"  ERROR [{e}]: {er[e]['error']}")
    if mem:
        print(f"\n  B/order tm = tracemalloc bytes per resting order at {results['memory']['orders']:,} resting "
              f"(Python heap only; native allocations invisible); B/order rss = RSS growth per order.")
        for e, m in mem.items():
            for k in ("tracemalloc_skip", "rss_skip"):
                if k in m:
                    print(f"  memory [{e}] {k.split('_')[0]}: {m[k]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k commands, 100k resting orders for memory")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds-long run the test suite makes so the script cannot rot (figures meaningless)")
    ap.add_argument("-n", "--commands", type=int, default=None, help="commands per workload (default 1,000,000)")
    ap.add_argument("--deep", action="store_true", help="deep workload only")
    ap.add_argument("--default-only", action="store_true", help="default workload only")
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                    help=f"comma list from {','.join(list(ENGINES) + ['reference'])} (or 'peers')")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-check", action="store_true", help="skip the trade/book cross-check pass")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--mem-orders", type=int, default=None, help="resting orders for B/order (default 1,000,000)")
    ap.add_argument("--mem-timeout", type=float, default=300.0, help="seconds per engine for the memory build")
    ap.add_argument("--slow", type=float, default=60.0,
                    help="if one run takes longer than this, cut the remaining runs (median of fewer)")
    ap.add_argument("--no-cache", action="store_true", help="regenerate the workload, don't touch bench/.cache")
    ap.add_argument("--json", metavar="PATH", help="also write all results as JSON ('-' = stdout)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--_mem", help=argparse.SUPPRESS)
    ap.add_argument("--_mem-what", dest="_mem_what", default="tracemalloc", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:  # every stage runs (generate, replay, cross-check, latency, memory), on tiny sizes
        args.commands = args.commands or 3_000
        args.mem_orders = args.mem_orders or 2_000
        args.runs = 1
        args.no_cache = True
        if args.engines == ",".join(DEFAULT_ENGINES):
            args.engines = "ours,barebones"

    n = args.commands or (100_000 if args.quick else 1_000_000)
    if args.mem_orders is None:
        args.mem_orders = 100_000 if args.quick else 1_000_000

    if args._mem:
        print(json.dumps(mem_child(args._mem, args.mem_orders, args._mem_what)))
        return 0

    engines = []
    for e in args.engines.split(","):
        e = e.strip()
        if e == "peers":
            engines += PEERS
        elif e:
            engines.append(e)

    log(f"matching-engine benchmark: python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} cpus; engines: {', '.join(engines)}; runs {args.runs}")
    log(f"  timer overhead ≈ {timer_overhead_ns():.0f} ns per perf_counter_ns() call (included in latencies)")
    for e in engines:
        cls, note = load_adapter(e)
        if cls is None:
            log(f"  engine {e}: NOT AVAILABLE ({note})")

    kinds = ["deep"] if args.deep else (["default"] if args.default_only else ["default", "deep"])
    results = {"meta": {"python": sys.version, "machine": platform.machine(), "cpus": os.cpu_count(),
                        "commands": n, "runs": args.runs, "engines": engines,
                        "time": time.strftime("%Y-%m-%d %H:%M:%S")}}
    for kind in kinds:
        params = (W.Params.deep if kind == "deep" else W.Params.default)(n, args.seed)
        bench_workload(kind, params, engines, args, results)
        gc.collect()
    add_memory(results, engines, args)
    render(results, engines, args)
    if args.json:
        s = json.dumps(results, indent=2, default=str)
        if args.json == "-":
            print(s)
        else:
            Path(args.json).write_text(s)
            log(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
