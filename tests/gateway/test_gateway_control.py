"""Connection paths, control messages (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
SET_PROPERTY, GET_PROPERTY) with Binance's replies and error messages, and the limits."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.gateway.conftest import recv_json, request


def test_healthz(gateway):
    with urllib.request.urlopen(f"{gateway.http}/healthz", timeout=5) as resp:
        assert resp.status == 200
        body = json.loads(resp.read())
    assert body["status"] == "ok" and isinstance(body["connections"], int)


def test_unknown_path_and_bad_stream_names_are_refused(gateway):
    with pytest.raises(InvalidStatus) as exc:
        connect(f"{gateway.url}/nope")
    assert exc.value.response.status_code == 404
    assert json.loads(exc.value.response.body)["code"] == -1100
    with pytest.raises(InvalidStatus) as exc:
        connect(f"{gateway.url}/stream?streams=btcusdt@trade/xyzusdt@trade")
    assert exc.value.response.status_code == 400
    assert "streams" in json.loads(exc.value.response.body)["msg"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{gateway.http}/ws/btcusdt@trade", timeout=5)
    assert err.value.code == 426


def test_subscribe_list_unsubscribe_and_properties(gateway):
    # ccxt opens /ws/<n> (not a stream name) and subscribes afterwards
    with connect(f"{gateway.url}/ws/7") as ws:
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id=1) == {"result": [], "id": 1}
        assert request(ws, "SUBSCRIBE", ["btcusdt@aggTrade", "btcusdt@depth"], 2) == {"result": None, "id": 2}
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id="abc3") == {
            "result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": "abc3"}
        assert request(ws, "UNSUBSCRIBE", ["btcusdt@depth"], 312) == {"result": None, "id": 312}
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id=None) == {"result": ["btcusdt@aggTrade"], "id": None}
        time.sleep(1.0)  # keep within 5 messages a second
        assert request(ws, "GET_PROPERTY", ["combined"], 4) == {"result": False, "id": 4}
        assert request(ws, "SET_PROPERTY", ["combined", True], 5) == {"result": None, "id": 5}
        assert request(ws, "GET_PROPERTY", ["combined"], 6) == {"result": True, "id": 6}
    with connect(f"{gateway.url}/stream?streams=btcusdt@trade/ethusdt@kline_1m") as ws:
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id=1)["result"] == ["btcusdt@trade", "ethusdt@kline_1m"]
        assert request(ws, "GET_PROPERTY", ["combined"], 2) == {"result": True, "id": 2}
    with connect(f"{gateway.url}/ws/btcusdt@bookTicker") as ws:
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id=1)["result"] == ["btcusdt@bookTicker"]


ERRORS = [
    ("{not json", {"code": 3}, None),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"]}',
     {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, None),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "has space"}',
     {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, None),
    ('{"params": [], "id": 9}', {"code": 2, "msg": "Invalid request: missing field `method`"}, 9),
    ('{"method": "SUBSCRIBES", "params": [], "id": 10}', {"code": 2, "msg": (
        "Invalid request: unknown variant `SUBSCRIBES`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
        "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`")}, 10),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 11}',
     {"code": 2, "msg": "Invalid request: invalid stream name `btcusdt@nope`"}, 11),
    ('{"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 12}', {"code": 2}, 12),
    ('{"method": "SUBSCRIBE", "params": ["btcusdt@kline_7m"], "id": 13}', {"code": 2}, 13),
    ('{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 14}',
     {"code": 1, "msg": "Invalid value type: expected Boolean"}, 14),
    ('{"method": "SET_PROPERTY", "params": ["speed", true], "id": 15}', {"code": 0, "msg": "Unknown property"}, 15),
    ('{"method": "GET_PROPERTY", "params": [5], "id": 16}',
     {"code": 2, "msg": "Invalid request: property name must be a string"}, 16),
    ('{"method": "SET_PROPERTY", "params": ["combined", true, 1], "id": 17}',
     {"code": 2, "msg": "Invalid request: too many parameters"}, 17),
]


def test_error_replies(gateway):
    with connect(f"{gateway.url}/ws") as ws:
        for i, (text, want, want_id) in enumerate(ERRORS):
            if i and i % 4 == 0:
                time.sleep(1.05)
            ws.send(text)
            reply = recv_json(ws)
            assert set(reply) == {"error", "id"}, (text, reply)
            assert reply["id"] == want_id, (text, reply)
            assert isinstance(reply["error"]["msg"], str) and reply["error"]["msg"], (text, reply)
            for k, v in want.items():
                assert reply["error"][k] == v, (text, reply)
        time.sleep(1.05)
        assert request(ws, "LIST_SUBSCRIPTIONS", req_id=99) == {"result": [], "id": 99}  # still open, nothing taken


def test_stream_count_limit(gateway):
    intervals = ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]
    kinds = ["trade", "aggTrade", "miniTicker", "ticker", "bookTicker", "depth", "depth@100ms"] + \
        [f"kline_{i}" for i in intervals] + [f"depth{n}{s}" for n in (5, 10, 20) for s in ("", "@100ms", "@1000ms")]
    names = [f"{s}@{k}" for s in ("btcusdt", "ethusdt", "ethbtc") for k in kinds]  # 3 x 32 = 96 distinct
    assert len(set(names)) == 96
    with connect(f"{gateway.url}/ws") as ws:
        assert request(ws, "SUBSCRIBE", names, 1) == {"result": None, "id": 1}
        assert len(request(ws, "LIST_SUBSCRIPTIONS", req_id=2)["result"]) == 96
        # 1024 is the cap (3 symbols have fewer distinct streams: the cap counts names sent)
        r = request(ws, "SUBSCRIBE", (names * 11)[:1025], 3)
        assert r == {"error": {"code": 2, "msg": "Invalid request: too many streams (at most 1024 per connection)"},
                     "id": 3}
        assert len(request(ws, "LIST_SUBSCRIPTIONS", req_id=4)["result"]) == 96
    many = (names * 11)[:1025]
    with pytest.raises(InvalidStatus) as exc:
        connect(f"{gateway.url}/stream?streams={'/'.join(many)}", max_size=None)
    assert exc.value.response.status_code == 400 and json.loads(exc.value.response.body)["code"] == -1100
    with connect(f"{gateway.url}/stream?streams={'/'.join(many[:1024])}", max_size=None) as ws:
        assert len(request(ws, "LIST_SUBSCRIPTIONS", req_id=1)["result"]) == 96


def test_incoming_message_rate_limit_closes(gateway):
    with connect(f"{gateway.url}/ws") as ws:
        with pytest.raises(ConnectionClosed) as exc:
            for i in range(8):
                ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            for _ in range(8):
                ws.recv(timeout=5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1008


def test_connection_lifetime(gateway_factory):
    gw = gateway_factory("--max-lifetime", "1.5")
    with connect(f"{gw.url}/ws/btcusdt@trade") as ws:
        t0 = time.time()
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(timeout=10)
        assert 1.0 <= time.time() - t0 <= 6
        assert exc.value.rcvd.code == 1000


def test_server_pings_and_drops_a_client_that_never_pongs(gateway_factory):
    """Binance: a ping frame every 20 s, disconnected if no pong within a minute (here
    0.3 s / 1 s).  The silent client is websockets' sans-I/O protocol on a bare socket
    that never sends what the protocol queues (its automatic pong)."""
    import socket

    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri

    gw = gateway_factory("--ping-interval", "0.3", "--ping-timeout", "1")
    # a well-behaved client (the library answers pings) stays connected
    with connect(f"{gw.url}/ws") as good:
        proto = ClientProtocol(parse_uri(f"{gw.url}/ws"))
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        proto.send_request(proto.connect())
        for chunk in proto.data_to_send():
            sock.sendall(chunk)
        pings, closed, t0 = 0, None, time.time()
        while time.time() - t0 < 8 and closed is None:
            data = sock.recv(65536)
            if not data:
                break
            proto.receive_data(data)
            for ev in proto.events_received():
                if isinstance(ev, Frame) and ev.opcode is Opcode.PING:
                    pings += 1
                if isinstance(ev, Frame) and ev.opcode is Opcode.CLOSE:
                    closed = time.time() - t0
            proto.data_to_send()  # drained, never sent: no pong
        sock.close()
        assert pings >= 1 and closed is not None and closed < 5, (pings, closed)
        assert request(good, "LIST_SUBSCRIPTIONS", req_id=1) == {"result": [], "id": 1}


def test_sigterm_sends_server_shutdown(gateway_factory):
    import signal

    gw = gateway_factory()
    with connect(f"{gw.url}/ws/btcusdt@trade") as raw, connect(f"{gw.url}/stream?streams=btcusdt@trade") as comb:
        gw.proc.send_signal(signal.SIGTERM)
        ev = recv_json(raw)
        assert set(ev) == {"e", "E"} and ev["e"] == "serverShutdown" and isinstance(ev["E"], int)
        wrapped = recv_json(comb)
        assert wrapped["stream"] == "!serverShutdown" and wrapped["data"]["e"] == "serverShutdown"
        with pytest.raises(ConnectionClosed):
            raw.recv(timeout=10)
    assert gw.proc.wait(15) == 0
