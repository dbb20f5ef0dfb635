"""chalicelib.userevents: the reports built from the engine's events and the rows as
committed (pure: the real engine and settlement's own fills), and the per-account
streams with the published marker on the session's real Redis."""
from __future__ import annotations

import json
import string
import uuid
from decimal import Decimal as D
from types import SimpleNamespace

from chalicelib import userevents
from chalicelib.symbols import load_catalog
from chalicelib.trading.codec import SymbolCodec
from chalicelib.trading.commands import Cancel, NewOrder
from chalicelib.trading.types import OrderType, Side, TimeInForce
from matcher.engine import FastBook
from matcher.service.settlement import derive

SYM = "ETHUSDT"


def _row(oid, acct, side, qty, price, executed="0", cum="0", status="NEW", tif="GTC", type_="LIMIT"):
    return {"order_id": oid, "account_id": acct, "symbol": SYM, "client_order_id": f"c{oid}", "side": side,
            "type": type_, "time_in_force": tif, "price": D(price), "stop_price": None, "orig_qty": D(qty),
            "orig_quote_qty": None, "executed_qty": D(executed), "cum_quote_qty": D(cum), "status": status,
            "stp_mode": "NONE", "reject_reason": None, "created_ms": 1000 + oid, "updated_ms": 2000,
            "working_ms": 1000 + oid}


def _entry(seq, kind, payload, ts=5000):
    return SimpleNamespace(seq=seq, kind=kind, payload=payload, ts=ts, intent_id=f"i{seq}")


def scenario_reports() -> list:
    """The reports of the scenario below (the matcher's JSON encoder test reuses them)."""
    return _scenario()[0]


def _scenario():
    spec = load_catalog().symbol(SYM)
    codec = SymbolCodec(spec)
    book = FastBook(codec.filters)
    px = int(D("2000.00") / spec.tick_size)
    lot = int(D("0.0100") / spec.step_size)

    def new(oid, acct, side, qty_lots, tif=TimeInForce.GTC):
        return NewOrder(oid, acct, side, OrderType.LIMIT, tif, px, qty_lots)

    # batch 1 (published earlier): a maker of 10 lots, a taker of 3
    book.process(new(1, 7, Side.SELL, 10 * lot))
    book.process(new(2, 8, Side.BUY, 3 * lot))
    # batch 2: a taker of 4 lots (partial for the maker), an IOC of 5 (fills 3, expires), then a cancel
    applied = []
    for seq, (kind, cmd, payload) in enumerate([
            ("NEW", new(3, 8, Side.BUY, 4 * lot), None),
            ("NEW", new(4, 8, Side.BUY, 5 * lot, TimeInForce.IOC), None),
            ("NEW", new(5, 8, Side.BUY, 1 * lot), None),
            ("CANCEL", Cancel(5, 8), {"order_id": 5, "account_id": 8})], start=10):
        payload = payload or {"order_id": cmd.order_id, "cmd": list(cmd)}
        applied.append(SimpleNamespace(entry=_entry(seq, kind, payload, ts=5000 + seq), events=book.process(cmd)))
    fills = derive(spec, codec, applied).fills
    # the rows as committed after batch 2: the maker filled 3 (batch 1) + 4 + 3 lots
    rows = {1: _row(1, 7, "SELL", "0.1000", "2000.00", "0.1000", "200.00", "FILLED"),
            3: _row(3, 8, "BUY", "0.0400", "2000.00", "0.0400", "80.00", "FILLED"),
            4: _row(4, 8, "BUY", "0.0500", "2000.00", "0.0300", "60.00", "EXPIRED", tif="IOC"),
            5: _row(5, 8, "BUY", "0.0100", "2000.00", status="CANCELED")}
    return userevents.execution_reports(spec, applied, fills, rows, event_time=9999), spec


def test_reports_continue_the_cumulative_amounts_of_earlier_batches():
    out, _spec = _scenario()
    maker = [e for acct, e in out if acct == 7]
    assert [(e["x"], e["X"], e["l"], e["z"], e["Z"], e["m"], e["w"]) for e in maker] == [
        ("TRADE", "PARTIALLY_FILLED", "0.04000000", "0.07000000", "140.00000000", True, True),
        ("TRADE", "FILLED", "0.03000000", "0.10000000", "200.00000000", True, False)]
    assert [(e["N"], e["n"]) for e in maker] == [("USDT", "0.08000000"), ("USDT", "0.06000000")]
    taker = [(e["i"], e["x"], e["X"], e["z"]) for acct, e in out if acct == 8]
    assert taker == [(3, "NEW", "NEW", "0.00000000"), (3, "TRADE", "FILLED", "0.04000000"),
                     (4, "NEW", "NEW", "0.00000000"), (4, "TRADE", "PARTIALLY_FILLED", "0.03000000"),
                     (4, "EXPIRED", "EXPIRED", "0.03000000"), (5, "NEW", "NEW", "0.00000000"),
                     (5, "CANCELED", "CANCELED", "0.00000000")]
    by_id = {(e["i"], e["x"]): e for _, e in out}
    assert by_id[(4, "EXPIRED")]["eR"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
    cancel = by_id[(5, "CANCELED")]
    assert cancel["C"] == "c5" and cancel["c"] == userevents.cancel_client_order_id("i13")
    assert len(cancel["c"]) == 22 and set(cancel["c"]) <= set(string.ascii_letters + string.digits)
    assert by_id[(3, "TRADE")]["N"] == "ETH" and by_id[(3, "TRADE")]["n"] == "0.00004000"
    assert all(e["E"] == 9999 and e["T"] >= 5010 for _, e in out)
    # Binance's field order, the conditional W only while working
    assert list(by_id[(3, "NEW")])[:22] == ["e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x",
                                            "X", "r", "i", "l", "z", "L", "n", "N"]
    assert "W" in by_id[(5, "NEW")] and "W" not in cancel
    ids = [e["I"] for _, e in out]
    assert len(set(zip(ids, [e["i"] for _, e in out], strict=True))) == len(out)


def test_streams_and_the_published_marker(exchange_env):
    from chalicelib.clients import get_clients

    redis = get_clients().redis
    acct = int(uuid.uuid4().int % 10**9) + 10**10
    sym = f"T{uuid.uuid4().hex[:6].upper()}"
    assert userevents.published_seq(redis, sym) is None
    applied = [SimpleNamespace(entry=SimpleNamespace(seq=s)) for s in (4, 5, 6)]
    assert userevents.unpublished(redis, sym, applied) == []  # unknown marker: nothing to repair
    events = [(acct, {"e": "executionReport", "I": i}) for i in range(3)]
    userevents.write(redis, events, marker=(sym, 5))
    got = [json.loads(f["e"]) for _, f in redis.xrange(userevents.stream_key(acct))]
    assert got == [e for _, e in events]
    assert 0 < redis.ttl(userevents.stream_key(acct)) <= userevents.STREAM_TTL_S
    assert userevents.published_seq(redis, sym) == 5
    assert [a.entry.seq for a in userevents.unpublished(redis, sym, applied)] == [6]
    pos = userevents.account_position([{"asset": "BTC", "free": D("1.5"), "locked": "0", "updated_ms": 7}], 9)
    assert pos == {"e": "outboundAccountPosition", "E": 9, "u": 7,
                   "B": [{"a": "BTC", "f": "1.50000000", "l": "0.00000000"}]}
    assert userevents.balance_update("USDT", D("-2"), 3, 4) == {"e": "balanceUpdate", "E": 4, "a": "USDT",
                                                                 "d": "-2.00000000", "T": 3}
    redis.delete(userevents.stream_key(acct), userevents.marker_key(sym))


def test_iceberg_and_trailing_fields_in_reports():
    """``F`` is the iceberg's slice; a trailing stop carries ``d`` and, once activated,
    ``D`` (its batch's sequencing time, which settlement stamps from ACTIVATED)."""
    spec = load_catalog().symbol(SYM)
    codec = SymbolCodec(spec)
    book = FastBook(codec.filters)
    px = int(D("2000.00") / spec.tick_size)
    lot = int(D("0.0100") / spec.step_size)
    cmds = [NewOrder(1, 7, Side.SELL, OrderType.LIMIT, TimeInForce.GTC, px, 10 * lot, iceberg_qty=3 * lot),
            NewOrder(2, 8, Side.SELL, OrderType.STOP_LOSS, qty=lot, trailing_delta=150)]
    applied = [SimpleNamespace(entry=_entry(20 + i, "NEW", {"order_id": c.order_id, "cmd": list(c)}, ts=7000 + i),
                               events=book.process(c)) for i, c in enumerate(cmds)]
    d = derive(spec, codec, applied)
    assert d.orders[2].trailing_ms == 7001 and d.orders[1].trailing_ms is None
    rows = {1: {**_row(1, 7, "SELL", "0.1000", "2000.00"), "iceberg_qty": D("0.0300")},
            2: {**_row(2, 7, "SELL", "0.0100", "0", type_="STOP_LOSS"), "price": None, "time_in_force": None,
                "working_ms": None, "trailing_delta": 150, "trailing_ms": 7001}}
    reports = [r for _, r in userevents.execution_reports(spec, applied, d.fills, rows, event_time=9000)]
    assert [(r["i"], r["x"]) for r in reports] == [(1, "NEW"), (2, "NEW")]
    assert reports[0]["F"] == "0.03000000" and "d" not in reports[0] and "D" not in reports[0]
    assert reports[1]["F"] == "0.00000000" and (reports[1]["d"], reports[1]["D"]) == (150, 7001)
    assert not reports[1]["w"]
    rows[2]["trailing_ms"] = None  # not activated yet: d alone
    reports = [r for _, r in userevents.execution_reports(spec, applied, d.fills, rows, event_time=9000)]
    assert reports[1]["d"] == 150 and "D" not in reports[1]
