"""The order entry path: validate, reserve, record, hand the intent to the matcher.

``place_order`` (and cancel / cancel-replace) run in two steps:

1. One Aurora statement through the Data API, which is its own transaction (no
   transaction id: one HTTP call, not Begin + statements + Commit): allocate the
   order id, insert the order as ``PENDING_NEW``, reserve its funds in the ledger
   (``reserve:<order_id>``, free -> locked; -2010 when the free balance is short) and
   write an ``intent_outbox`` row, as data-modifying CTEs of one statement.  Either
   all of it happens or none of it.  An algo or iceberg order's MAX_NUM_ALGO_ORDERS /
   MAX_NUM_ICEBERG_ORDERS check is part of that statement, under a lock on (account,
   symbol) (see :data:`LIMIT_SLOT_CTE`), so simultaneous orders cannot both pass it.
2. A conditional put of the intent into the DynamoDB intents table (PynamoDB),
   keyed ``<account_id>:<clientOrderId>`` (``...:cancel:<orderId>`` for a cancel),
   so a retry of the same request writes nothing twice.

Cancels are answered from the engine's outcome for *that* request, never from the
order's status read afterwards: the request whose INSERT of the cancel's outbox row
inserted owns the cancel (a concurrent one inserts nothing and gets -2011 at once);
the matcher's settlement stamps each CANCEL / CANCEL_REPLACE row with what the engine
did (``intent_outbox.outcome``: CANCELED, REJECTED, NOT_ATTEMPTED) in the transaction
that also moves the order; the owner waits for it and answers CANCELED with the
order's final fields, or -2011 (the order filled first), or -1007 when the matcher
does not answer in time.

A cancel may reach the matcher before the order it names (another stream shard, or
the order's put still to come): the matcher holds it and sequences it right after
the order (``matcher/service/ordering.py``), so it is never refused for coming first.

If the process dies between the two, the reconciler (:mod:`chalicelib.reconcile`)
finds the unacknowledged outbox row and puts the intent (or voids and reverses it
when it is too old).  The matcher acknowledges an intent by stamping
``intent_outbox.sent_at`` in its settlement transaction.

Reservations (what ``reserved_amount`` holds; the matcher settles fills out of it
and releases what is left when the order is done):

* SELL: the base quantity.
* BUY with a limit price (LIMIT, LIMIT_MAKER, *_LIMIT stops): price x quantity,
  rounded up to the quote asset's precision.
* MARKET BUY by ``quoteOrderQty``: that amount (the engine never spends more).
* MARKET BUY by ``quantity`` and BUY STOP_LOSS / TAKE_PROFIT (market when
  triggered): priced with *market protection* -- the engine gets a LIMIT IOC (or a
  stop-limit IOC) at ``reference x (1 + MARKET_PROTECTION)`` rounded up to a tick,
  where the reference is the best ask in the published depth (the stop price for
  stops), and that price x quantity is reserved.  No asks published: -1112.
* BUY trailing STOP_LOSS / TAKE_PROFIT: the same, the reference being where it can
  fire -- ``delta`` above its stop price (the best ask when it has none, as it then
  trails from placement): the low a BUY tracks starts at the trade that activates it,
  and the engine's IOC limit caps what it pays, so the reservation bounds it.  (A
  BUY STOP_LOSS whose activating trade jumps far above its stop price fires above
  that cap and then buys what the cap allows, possibly nothing: the price of a bound.)
* MARKET SELL by ``quoteOrderQty`` is refused (-1014): the base it needs cannot be
  bounded before it runs.

Trade amounts: a trade's quote amount is price x qty (exact, stored in ``trades``);
the amount that moves between balances is that, rounded *down* to the quote
asset's precision (so a buyer's fills never exceed the reservation).  Fees are
``amount x rate`` rounded down to the received asset's precision.  See
``matcher/service/settlement.py``.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from chalicelib.clock import now_ms
from chalicelib.encoding import canonical_json
from chalicelib.errors import ExchangeError, Failure, Reason
from chalicelib.orderviews import fill_dict, order_dict, trade_dict

MARKET_PROTECTION = Decimal("0.05")
OPEN_STATUSES = ("PENDING_NEW", "NEW", "PARTIALLY_FILLED", "PENDING_CANCEL")
DONE_STATUSES = ("FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH")
_IN_FLIGHT = ("PENDING_NEW", "PENDING_CANCEL")  # the matcher has not answered yet
_PENDING = object()  # what a poll attempt returns while the matcher has not answered


def _poll(attempt, timeout_s: float, on_timeout):
    """Call ``attempt()`` until it returns something other than ``_PENDING`` (that
    result) or ``timeout_s`` passes (``on_timeout``), backing off from 20 ms to 200 ms
    between attempts: the API's wait for the matcher's answer to one request."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        out = attempt()
        if out is not _PENDING:
            return out
        if time.monotonic() >= deadline:
            return on_timeout
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
_OPEN_SQL = "(" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"  # constants, not input: safe to inline
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    client_order_id: str
    stp_mode: str = "NONE"
    iceberg_qty: Decimal | None = None
    trailing_delta: int | None = None


# -- helpers ---------------------------------------------------------------------------
def _clients(clients):
    if clients is not None:
        return clients
    from chalicelib.clients import get_clients

    return get_clients()


def _spec(symbol: str):
    """The symbol's spec, or -1121 for a symbol the exchange does not list."""
    from chalicelib.symbols import spec_of

    spec = spec_of(symbol)
    if spec is None:
        raise ExchangeError(Reason.BAD_SYMBOL)
    return spec


_CODECS: dict = {}


def codec_for(spec):
    from chalicelib.trading.codec import SymbolCodec

    codec = _CODECS.get(spec.symbol)
    if codec is None:
        codec = _CODECS[spec.symbol] = SymbolCodec(spec)
    return codec


def _ceil(value: Decimal, precision: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_CEILING)


def floor_to(value: Decimal, precision: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_FLOOR)


def _dec(v) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def engine_command_json(cmd) -> list:
    """A NewOrder as the plain int list the matcher rebuilds it from."""
    return [int(x) for x in cmd]


def _best_ask(clients, symbol: str) -> Decimal | None:
    from redis.exceptions import RedisError

    from chalicelib import marketdata

    try:
        snap = marketdata.read_depth(clients.redis, symbol, clients.settings.redis_key_prefix)
    except RedisError as exc:  # an unreachable cache: as no published depth (-1112), not an outage
        _log.warning("depth cache unavailable: %r", exc)
        return None
    if not snap or not snap.get("asks"):
        return None
    return Decimal(snap["asks"][0][0])


def plan_order(req: OrderRequest, account_id: int, clients=None):
    """Validate ``req`` against the symbol's filters and decide what the engine gets
    and what is reserved: ``(spec, NewOrder with order_id 0, reserved asset,
    reserved amount)``; raises ExchangeError for every expected refusal."""
    from chalicelib.trading.types import OrderType, Side, TimeInForce

    spec = _spec(req.symbol)
    if spec.status != "TRADING":
        raise ExchangeError(Reason.SYMBOL_NOT_TRADING)
    if not req.client_order_id or not _CLIENT_ID.match(req.client_order_id):
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in parameter 'newClientOrderId';"
                                    " legal range is '^[a-zA-Z0-9-_]{1,36}$'."))
    codec = codec_for(spec)
    cmd = codec.new_order(order_id=0, account_id=account_id, side=req.side, order_type=req.type,
                          time_in_force=req.time_in_force, price=req.price, quantity=req.quantity,
                          quote_order_qty=req.quote_order_qty, stop_price=req.stop_price, stp_mode=req.stp_mode,
                          iceberg_qty=req.iceberg_qty, trailing_delta=req.trailing_delta)
    if isinstance(cmd, Reason):
        raise ExchangeError(cmd)
    if spec.percent_price_by_side is not None and req.price is not None:
        check_percent_price_by_side(spec, req.side, Decimal(req.price))
    t = cmd.order_type
    if cmd.side == Side.SELL:
        if cmd.quote_qty:
            raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION,
                                        "MARKET SELL by quoteOrderQty is not supported; send quantity."))
        return spec, cmd, spec.base_asset, spec.lots_to_qty(cmd.qty)
    # BUY
    if t in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
        return spec, cmd, spec.quote_asset, buy_reservation(spec, cmd.price, cmd.qty)
    if t == OrderType.MARKET and cmd.quote_qty and req.quote_order_qty is not None:  # quote_qty came from it
        return spec, cmd, spec.quote_asset, Decimal(req.quote_order_qty)
    # market BUY by quantity (or a stop that becomes one): market protection
    if t == OrderType.MARKET or (cmd.trailing_delta and not cmd.stop_price):
        ref = _best_ask(_clients(clients), spec.symbol)
        if ref is None:
            raise ExchangeError(Reason.NO_DEPTH)
    else:
        ref = spec.ticks_to_price(cmd.stop_price)
    if t == OrderType.MARKET:
        new_type, tif = OrderType.LIMIT, TimeInForce.IOC
    else:
        new_type = OrderType.STOP_LOSS_LIMIT if t == OrderType.STOP_LOSS else OrderType.TAKE_PROFIT_LIMIT
        tif = TimeInForce.IOC
        # a trailing BUY fires up to ``delta`` above the low it tracks, which is at most
        # its stop price (or the best ask when it trails from placement; see the docstring)
        ref = ref * (1 + Decimal(cmd.trailing_delta) / 10_000)
    ticks = protected_ticks(spec, ref)
    cmd = cmd._replace(order_type=new_type, tif=tif, price=ticks)
    reason = codec.check(cmd)
    if reason is not None:
        raise ExchangeError(reason)
    return spec, cmd, spec.quote_asset, buy_reservation(spec, ticks, cmd.qty)


def check_percent_price_by_side(spec, side: str, price: Decimal, now: int | None = None) -> None:
    """Binance's PERCENT_PRICE_BY_SIDE for an order's ``price``: within the side's
    multipliers of the average price of the filter's last ``avgPriceMins`` minutes (the
    last price when 0 or nothing traded in the window), -1013 otherwise.  A symbol that
    never traded has no reference, and an unreachable cache falls back to Aurora's
    trades, so an order is never refused for want of market data."""
    from redis.exceptions import RedisError

    from chalicelib import marketstats

    f = spec.percent_price_by_side
    at = now if now is not None else now_ms()
    try:
        ref = marketstats.average_price(spec.symbol, f.avg_price_mins, at)
    except RedisError as exc:
        _log.warning("market data cache unavailable, reference price from Aurora: %r", exc)
        ref = marketstats.average_price(spec.symbol, f.avg_price_mins, at, cache=False)
    if not ref:
        return
    low, high = f.bounds(side, ref)
    if not low <= price <= high:
        raise ExchangeError(Reason.FILTER_PERCENT_PRICE_BY_SIDE)


def protected_ticks(spec, ref: Decimal) -> int:
    """The engine's limit price (ticks) of a market-protected BUY: ``ref x (1 +
    MARKET_PROTECTION)`` rounded up to a tick, at most the symbol's max price."""
    ticks = int((ref * (1 + MARKET_PROTECTION) / spec.tick_size).to_integral_value(ROUND_CEILING))
    return min(ticks, codec_for(spec).filters.max_price)


def buy_reserve_ticks(spec, order_type: str, price, stop_price) -> int | None:
    """The price (ticks) a resting BUY's reservation was priced at (its limit price, or
    the market-protected stop price of a BUY STOP_LOSS / TAKE_PROFIT), as
    :func:`plan_order` priced it; None for a type that never rests (MARKET).  The
    settlement prices what an amend releases with it."""
    if order_type in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        return spec.price_to_ticks(Decimal(str(price)))
    if order_type in ("STOP_LOSS", "TAKE_PROFIT") and stop_price is not None:
        # (a trailing one reserved more per lot: what an amend releases at this price
        # is less than exact, and the rest is released when the order is done)
        return protected_ticks(spec, Decimal(str(stop_price)))
    return None


def buy_reservation(spec, ticks: int, lots: int) -> Decimal:
    """What a BUY of ``lots`` at ``ticks`` reserves: price x quantity rounded up to the
    quote asset's precision (so fills, rounded down, never exceed it)."""
    return _ceil(spec.quote_of(ticks, lots), spec.quote_precision)


# -- rendering -------------------------------------------------------------------------
_ORDER_COLS = ("order_id, account_id, symbol, client_order_id, side, type, time_in_force, price, stop_price,"
               " orig_qty, orig_quote_qty, executed_qty, cum_quote_qty, status, stp_mode, reserved_asset,"
               " reserved_amount, reserved_left, reject_reason, last_event_seq, order_list_id,"
               " CAST(extract(epoch FROM created_at) * 1000 AS bigint) AS created_ms,"
               " CAST(extract(epoch FROM updated_at) * 1000 AS bigint) AS updated_ms,"
               " CAST(extract(epoch FROM working_at) * 1000 AS bigint) AS working_ms, iceberg_qty, trailing_delta,"
               " CAST(extract(epoch FROM trailing_at) * 1000 AS bigint) AS trailing_ms")
# Binance's conditional preventedMatchId / preventedQuantity of an order that self-trade
# prevention expired: its last prevented match and the quantity its matches prevented
# (as executionReport's "v" and "A"); evaluated only for such orders (CASE is lazy).
_PREVENTED_OF = ("(SELECT {} FROM prevented_matches p WHERE p.symbol = orders.symbol"
                 " AND (p.taker_order_id = orders.order_id OR p.maker_order_id = orders.order_id))")
_ORDER_READ_COLS = (_ORDER_COLS + ", CASE WHEN status = 'EXPIRED_IN_MATCH' THEN "
                    + _PREVENTED_OF.format("max(p.prevented_match_id)") + " END AS prevented_match_id,"
                    " CASE WHEN status = 'EXPIRED_IN_MATCH' THEN "
                    + _PREVENTED_OF.format("sum(p.maker_prevented_qty)") + " END AS prevented_qty")


def _find(tx, account_id: int, symbol: str, order_id=None, client_order_id=None) -> dict | None:
    if order_id is not None:
        return tx.one(f"SELECT {_ORDER_READ_COLS} FROM orders WHERE order_id = :o AND account_id = :a"
                      " AND symbol = :s",
                      {"o": int(order_id), "a": account_id, "s": symbol})
    if client_order_id:
        return tx.one(f"SELECT {_ORDER_READ_COLS} FROM orders WHERE client_order_id = :c AND account_id = :a"
                      " AND symbol = :s", {"c": client_order_id, "a": account_id, "s": symbol})
    raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"))


# -- intents -------------------------------------------------------------------------------
def put_intent(intent_id: str, symbol: str, account_id: int, kind: str, order_id: int | None,
               payload: dict | str, created_ms: int | None = None, group: int | None = None) -> bool:
    """Conditional put of an intent into the intents table of the symbol's matcher
    group (``group``, else its route: :func:`chalicelib.routing.group_of`, read after
    the Aurora commit on purpose, see there): True if written now, False if it existed
    (a retry, or a reconciler's void)."""
    from pynamodb.exceptions import PutError

    from chalicelib.routing import group_of
    from chalicelib.tables import intent_model

    model = intent_model(group_of(symbol) if group is None else group)
    body = payload if isinstance(payload, str) else canonical_json(payload)
    item = model(intent_id, symbol=symbol, account_id=account_id, kind=kind, order_id=order_id,
                 payload=body, created_ms=created_ms or now_ms())
    try:
        item.save(condition=model.intent_id.does_not_exist())
        return True
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise


def _insert_order(tx, account_id: int, req: OrderRequest, spec, cmd, asset: str, amount: Decimal, intent_id: str,
                  kind: str = "NEW", extra: dict | None = None, freed: int | None = None) -> tuple[dict, dict] | None:
    """Insert the order, its outbox row and its reservation (ledger entries
    ``reserve:<order_id>`` + the balance move free -> locked) in ONE statement of
    data-modifying CTEs; ``(order row, intent payload)``, or None if the client order
    id is taken, by an order or by an amend that renamed one away (nothing was
    written then).  -2010 (INSUFFICIENT_BALANCE) when the
    free balance is short: the statement fails as a whole.  An order that counts for
    MAX_NUM_ALGO_ORDERS / MAX_NUM_ICEBERG_ORDERS is checked by the same statement,
    under the (account, symbol) lock, before its insert (:data:`LIMIT_SLOT_CTE`;
    ``freed``: the order a cancel-replace cancels): -1013 and nothing written when it
    does not fit.

    One statement, so that ``place_order`` needs a single Data API call (no
    Begin/Commit round trips): the order id is allocated by the statement itself and
    the reservation's SQL comes from :func:`chalicelib.ledger.post_ctes` (the ledger's
    one definition of posting, idempotency and the overdraft CHECK included)."""
    from chalicelib import ledger

    params = {"a": account_id, "s": spec.symbol, "c": req.client_order_id, "side": req.side.upper(),
              "type": req.type.upper(),
              "tif": _time_in_force(req),
              "p": None if req.price is None else str(req.price),
              "sp": None if req.stop_price is None else str(req.stop_price),
              "q": None if req.quantity is None else str(req.quantity),
              "qq": None if req.quote_order_qty is None else str(req.quote_order_qty),
              "stp": (req.stp_mode or "NONE").upper(), "ra": asset, "rm": str(amount), "iid": intent_id,
              "kind": kind, "rest": json.dumps(engine_command_json(cmd)[1:]), "extra": json.dumps(extra or {}),
              "iq": None if req.iceberg_qty is None else str(req.iceberg_qty), "td": req.trailing_delta}
    limits = limit_params(spec, [req], freed)
    ctes = [LIMIT_SLOT_CTE] if limits else []
    ctes += [
        "o AS (INSERT INTO orders (order_id, account_id, symbol, client_order_id, side, type, time_in_force,"
        " price, stop_price, orig_qty, orig_quote_qty, status, stp_mode, reserved_asset, reserved_amount,"
        " reserved_left, iceberg_qty, trailing_delta) SELECT nextval('order_id_seq'), :a, :s, :c, :side, :type,"
        " :tif, CAST(:p AS numeric), CAST(:sp AS numeric), CAST(:q AS numeric), CAST(:qq AS numeric), 'PENDING_NEW',"
        " :stp, :ra, CAST(:rm AS numeric), CAST(:rm AS numeric), CAST(:iq AS numeric), CAST(:td AS bigint)"
        + (" FROM slot WHERE slot.refused IS NULL AND" if limits else " WHERE")
        + " NOT EXISTS (SELECT 1 FROM order_amendments"
        " WHERE account_id = :a AND orig_client_order_id = :c) ON CONFLICT (account_id, client_order_id) DO NOTHING"
        f" RETURNING {_ORDER_COLS})",
        "b AS (INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
        " SELECT :iid, :a, :s, :kind, o.order_id,"
        " jsonb_build_object('kind', CAST(:kind AS text), 'order_id', o.order_id,"
        " 'account_id', CAST(:a AS bigint), 'cmd', jsonb_build_array(o.order_id) || CAST(:rest AS jsonb))"
        " || CAST(:extra AS jsonb) FROM o ON CONFLICT (intent_id) DO NOTHING RETURNING payload)",
    ]
    if amount > 0:
        reserve = ledger.transfer("reserve:", "RESERVE", asset, amount, (account_id, "free"), (account_id, "locked"))
        ctes.append(ledger.post_ctes(reserve, "o", "o.order_id", "CAST(o.order_id AS text)", params))
    main = " SELECT o.*, (SELECT CAST(payload AS text) FROM b) AS payload FROM o"
    if limits:  # a row even when nothing was inserted: the refusal, if that is why
        params.update(limits)
        main = (" SELECT o.*, (SELECT CAST(payload AS text) FROM b) AS payload, slot.refused AS limit_refused"
                " FROM slot LEFT JOIN o ON true")
    with ledger.overdraft_guard():
        row = tx.one("WITH " + ", ".join(ctes) + main, params)
    if row is not None and limits:
        refuse_over_limit(row.pop("limit_refused"))
        if row["order_id"] is None:
            row = None
    if row is None:
        return None
    payload = json.loads(row.pop("payload"))
    return row, payload


def _time_in_force(req: OrderRequest) -> str | None:
    """The order's timeInForce as stored: GTC by default for the types that rest."""
    if req.time_in_force:
        return req.time_in_force.upper()
    return "GTC" if req.type.upper() in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") else None


def _same_request(row: dict, req: OrderRequest) -> bool:
    """Whether the stored order is what ``req`` asks for (then a repeat is a retry)."""
    def eq(a, b):
        return (a is None and b is None) or (a is not None and b is not None and Decimal(str(a)) == Decimal(b))

    return (row["symbol"] == req.symbol and row["side"] == req.side.upper() and row["type"] == req.type.upper()
            and eq(row["price"], req.price) and eq(row["orig_qty"], req.quantity)
            and eq(row["orig_quote_qty"], req.quote_order_qty) and eq(row["stop_price"], req.stop_price)
            and row["time_in_force"] == _time_in_force(req) and row["stp_mode"] == (req.stp_mode or "NONE").upper()
            and eq(row.get("iceberg_qty"), req.iceberg_qty) and row.get("trailing_delta") == req.trailing_delta)


def _retry_existing(tx, account_id: int, req: OrderRequest) -> tuple[dict, dict | None]:
    """The order a repeated clientOrderId names, and its outbox row if still
    unacknowledged (so the retry re-sends the intent); a different request under the
    same clientOrderId is a duplicate (-2010)."""
    row = tx.one(f"SELECT {_ORDER_COLS} FROM orders WHERE account_id = :a AND client_order_id = :c",
                 {"a": account_id, "c": req.client_order_id})
    if row is None or not _same_request(row, req):
        raise ExchangeError(Reason.DUPLICATE_ORDER)
    box = tx.one("SELECT intent_id, kind, payload::text AS payload, created_at FROM intent_outbox"
                 " WHERE intent_id = :i AND sent_at IS NULL", {"i": f"{account_id}:{req.client_order_id}"})
    return row, box


# -- the contract ----------------------------------------------------------------------------
def place_order(account_id: int, req: OrderRequest, clients=None) -> dict:
    """Validate, reserve and record a new order, then send its intent.  Returns the
    order (status PENDING_NEW until the matcher has sequenced it).

    Idempotent per account + ``clientOrderId``, and this is the only mechanism: the
    orders table's unique key ``(account_id, client_order_id)`` makes the insert of a
    repeated id write nothing (a concurrent twin waits on the key, then sees the
    committed row); if the stored order is the same request it is a retry -- its
    order is returned and its intent re-sent if still unacknowledged -- otherwise
    -2010 DUPLICATE_ORDER.  Aurora holds it because Aurora is the record of orders:
    no cache with an expiry to disagree with it (a Redis/DynamoDB idempotency store
    in front of it added a second answer, not a safer one).  The intent put's
    condition (:func:`put_intent`) is the outbox's delivery guard, not a request's:
    the reconciler may put the same intent too."""
    from chalicelib.db import autocommit

    clients = _clients(clients)
    spec, cmd, asset, amount = plan_order(req, account_id, clients)
    intent_id = f"{account_id}:{req.client_order_id}"
    # one statement, autocommitted: a single Data API call, MAX_NUM_* check included (see _insert_order)
    inserted = _insert_order(autocommit(clients), account_id, req, spec, cmd, asset, amount, intent_id)
    if inserted is None:  # a retried clientOrderId (its insert is committed: ours waited on it)
        row, box = _retry_existing(autocommit(clients), account_id, req)
        payload = json.loads(box["payload"]) if box else None
    else:
        row, payload = inserted
    if payload is not None:
        put_intent(intent_id, spec.symbol, account_id, "NEW", int(row["order_id"]), payload)
    return order_dict(row)


_ALGO_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


# Binance's MAX_NUM_ALGO_ORDERS (open stop / take-profit orders) and MAX_NUM_ICEBERG_ORDERS
# (open icebergs) of an account on a symbol, -1013 when new orders would exceed one.
# Checked by the statement that inserts the order (the first statement of an order
# list's transaction), in the database function open_order_limit (migration 0010): it
# takes a transaction-scoped advisory lock on (account, symbol) and counts on a
# snapshot taken after the lock, so two entries at the same instant cannot both pass
# the count (each waits for the other's commit); orders that count for no limit skip
# it, and with it the lock.
LIMIT_SLOT_CTE = ("slot AS (SELECT open_order_limit(CAST(:a AS bigint), CAST(:s AS text), CAST(:lim_algo AS int),"
                  " CAST(:lim_iceberg AS int), CAST(:lim_max_algo AS int), CAST(:lim_max_iceberg AS int),"
                  " CAST(:lim_own AS text[]), CAST(:lim_freed AS bigint)) AS refused)")


def limit_params(spec, reqs, freed: int | None = None) -> dict | None:
    """The parameters of :data:`LIMIT_SLOT_CTE` (besides ``:a`` and ``:s``) for placing
    ``reqs`` together (an order, or an order list's orders), ``freed`` being the order a
    cancel-replace cancels; None when none of them counts for a limit."""
    from chalicelib.db import array_literal

    algo = sum(1 for r in reqs if r.type.upper() in _ALGO_TYPES)
    iceberg = sum(1 for r in reqs if r.iceberg_qty)
    if not algo and not iceberg:
        return None
    return {"lim_algo": algo, "lim_iceberg": iceberg, "lim_max_algo": spec.max_num_algo_orders,
            "lim_max_iceberg": spec.max_num_iceberg_orders,
            "lim_own": array_literal([r.client_order_id for r in reqs]), "lim_freed": freed}


def refuse_over_limit(refused: str | None) -> None:
    """-1013 ``Filter failure: <filter>`` for what open_order_limit refused (None: nothing)."""
    if refused:
        raise ExchangeError(Reason["FILTER_" + refused])


# -- cancels: answered from the engine's outcome for THIS request -----------------------------
_CLAIM_CANCELS = (
    "INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
    " SELECT CAST(o.account_id AS text) || ':cancel:' || CAST(o.order_id AS text)"
    " || CASE WHEN p.n = 0 THEN '' ELSE ':' || CAST(p.n AS text) END,"
    " o.account_id, o.symbol, 'CANCEL', o.order_id,"
    " jsonb_build_object('kind', 'CANCEL', 'order_id', o.order_id, 'account_id', o.account_id)"
    " FROM orders o CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE b.sent_at IS NULL) AS pending"
    " FROM intent_outbox b WHERE b.kind = 'CANCEL' AND b.order_id = o.order_id) p"
    " WHERE o.account_id = :a AND o.symbol = :s AND (CAST(:o AS bigint) IS NULL OR o.order_id = :o)"
    f" AND o.status IN {_OPEN_SQL} AND p.pending = 0"
    " ON CONFLICT (intent_id) DO NOTHING RETURNING intent_id, order_id, CAST(payload AS text) AS payload")


def claim_cancels(tx, account_id: int, symbol: str, order_id: int | None = None) -> list[dict]:
    """Write the cancel intents (outbox rows) of the account's open orders on
    ``symbol`` (or of ``order_id`` alone) that no cancel is in flight for, in one
    statement.  The request whose INSERT actually inserted owns that cancel; a
    concurrent request for the same order inserts nothing (same key) and is answered
    -2011 at once.  The key is ``<account>:cancel:<order>`` with ``:<n>`` appended after
    ``n`` earlier cancels were settled (a settled cancel that left the order open
    leaves it cancellable; the matcher holds a cancel of an order it has not
    sequenced, so that is not a cancel that came first)."""
    return tx.query(_CLAIM_CANCELS, {"a": account_id, "s": symbol, "o": order_id})


def _send_claims(claims: list[dict], account_id: int, symbol: str) -> dict[str, int]:
    out = {}
    for c in claims:
        oid = int(c["order_id"])
        put_intent(c["intent_id"], symbol, account_id, "CANCEL", oid, json.loads(c["payload"]))
        out[c["intent_id"]] = oid
    return out


def await_outcomes(intents: dict[str, int], timeout_s: float, clients=None) -> dict[str, tuple[str | None, dict]]:
    """For each intent id -> order id: ``(outcome, order row)`` once the matcher has
    settled it (outcome None: it was voided, never sequenced); intents still unsettled
    at the timeout are left out."""
    from chalicelib.db import autocommit

    clients = _clients(clients)
    done: dict[str, tuple[str | None, dict]] = {}

    def attempt():
        todo = [i for i in intents if i not in done]
        if todo:
            rows = autocommit(clients).query(
                f"SELECT b.intent_id AS outbox_intent, b.outcome AS outbox_outcome, x.* FROM intent_outbox b"
                f" JOIN LATERAL (SELECT {_ORDER_READ_COLS} FROM orders WHERE order_id = b.order_id) x ON true"
                " WHERE b.intent_id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
                " AND b.sent_at IS NOT NULL", {"ids": json.dumps(todo)})
            for r in rows:
                done[r.pop("outbox_intent")] = (r.pop("outbox_outcome"), r)
        return done if len(done) == len(intents) else _PENDING

    return _poll(attempt, timeout_s, on_timeout=done)


def cancel_order(account_id: int, symbol: str, order_id: int | None, orig_client_order_id: str | None,
                 clients=None, wait_s: float = 3.0) -> dict:
    """Cancel one open order and answer as Binance does: the order with status
    CANCELED (its final fields) if the engine cancelled it for this request; -2011
    if it was not open, if another request's cancel owns it, or if the engine found
    it already done (it filled first); -1007 if the matcher did not answer within
    ``wait_s`` (the cancel may still happen).  ``wait_s`` 0: send and return the
    order as it stands (bulk tools that read the outcome later)."""
    from chalicelib.db import autocommit

    clients = _clients(clients)
    _spec(symbol)
    tx = autocommit(clients)
    row = _find(tx, account_id, symbol, order_id, orig_client_order_id)
    if row is None or row["status"] in DONE_STATUSES:
        raise ExchangeError(Reason.CANCEL_REJECTED)
    claims = claim_cancels(tx, account_id, symbol, int(row["order_id"]))
    if not claims:
        raise ExchangeError(Reason.CANCEL_REJECTED)  # another request's cancel owns it
    intents = _send_claims(claims, account_id, symbol)
    if wait_s <= 0:
        return order_dict(row)
    outcome = await_outcomes(intents, wait_s, clients).get(next(iter(intents)))
    if outcome is None:
        raise ExchangeError(Reason.TIMEOUT)
    if outcome[0] != "CANCELED":
        raise ExchangeError(Reason.CANCEL_REJECTED)
    return order_dict(outcome[1])


def cancel_open_orders(account_id: int, symbol: str, clients=None, wait_s: float = 3.0) -> list[dict]:
    """Cancel every open order of the account on ``symbol``: exactly the orders the
    engine cancelled for this request, with their final fields (by orderId).  Orders
    another request is cancelling, or that the engine found done, are not listed;
    -2011 if that leaves nothing; -1007 if the matcher did not answer in time."""
    from chalicelib.db import autocommit

    clients = _clients(clients)
    _spec(symbol)
    claims = claim_cancels(autocommit(clients), account_id, symbol)
    if not claims:
        raise ExchangeError(Reason.CANCEL_REJECTED)
    intents = _send_claims(claims, account_id, symbol)
    outcomes = await_outcomes(intents, wait_s, clients)
    canceled = sorted((order_dict(row) for outcome, row in outcomes.values() if outcome == "CANCELED"),
                      key=lambda o: o["orderId"])
    if canceled:
        return canceled  # what this request cancelled; any still unsettled were not confirmed
    if len(outcomes) < len(intents):
        raise ExchangeError(Reason.TIMEOUT)
    raise ExchangeError(Reason.CANCEL_REJECTED)


@dataclass
class CancelReplaceResult:
    """Both halves of a cancel-replace, as the engine decided them.  ``cancel``: the
    old order as cancelled, or the Failure of the cancel; ``new``: the new order, its
    Failure, or None when it was not attempted."""

    cancel: dict | Failure
    new: dict | Failure | None

    @property
    def cancel_ok(self) -> bool:
        return isinstance(self.cancel, dict)

    @property
    def new_ok(self) -> bool:
        return isinstance(self.new, dict)


def rejection(reason_name: str | None) -> Failure:
    """The Binance error for an order the engine rejected (``orders.reject_reason``)."""
    reason = Reason.__members__.get(reason_name or "", Reason.NEW_ORDER_REJECTED)
    return Failure(reason)


def cancel_replace(account_id: int, symbol: str, cancel_order_id: int | None, cancel_orig_client_order_id: str | None,
                   new: OrderRequest, mode: str = "STOP_ON_FAILURE", clients=None,
                   wait_s: float = 3.0) -> CancelReplaceResult:
    """Cancel an order and place ``new`` as one matcher command (Binance's
    cancelReplace).  The new order's funds are reserved up front (so free funds must
    cover it before the old order's are released).

    Outcomes, from the engine's answer to this command: the cancel SUCCESS or FAILURE
    (-2011); the new order SUCCESS, FAILURE (its reject reason) or, under
    STOP_ON_FAILURE after a failed cancel, not attempted.  An old order that is
    unknown or already done fails the cancel right here (STOP_ON_FAILURE then places
    nothing).  A new order the engine's pre-check refuses leaves the old order alone
    and is answered as a plain error, as Binance refuses a new order failing its
    filters before cancelling anything.  -1007 if the matcher did not answer in
    time."""
    from chalicelib.db import autocommit, transaction
    from chalicelib.trading.types import CancelReplaceMode

    clients = _clients(clients)
    mode = (mode or "").upper()
    if mode not in CancelReplaceMode.__members__:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "Invalid cancelReplaceMode."))
    if new.symbol != symbol:
        raise ExchangeError(Reason.BAD_SYMBOL)
    spec, cmd, asset, amount = plan_order(new, account_id, clients)
    old = _find(autocommit(clients), account_id, symbol, cancel_order_id, cancel_orig_client_order_id)
    if (old is None or old["status"] in DONE_STATUSES) and mode == "STOP_ON_FAILURE":
        return CancelReplaceResult(Failure(Reason.CANCEL_REJECTED), None)
    old_id = int(old["order_id"]) if old else 0
    intent_id = f"{account_id}:{new.client_order_id}"
    with transaction(clients) as tx:
        inserted = _insert_order(tx, account_id, new, spec, cmd, asset, amount, intent_id, "CANCEL_REPLACE",
                                 {"cancel_order_id": old_id, "mode": mode}, freed=old_id or None)
        if inserted is None:
            row, box = _retry_existing(tx, account_id, new)
            payload = json.loads(box["payload"]) if box else None
        else:
            row, payload = inserted
    new_id = int(row["order_id"])
    if payload is not None:
        put_intent(intent_id, symbol, account_id, "CANCEL_REPLACE", new_id, payload)
    got = await_outcomes({intent_id: new_id}, wait_s, clients).get(intent_id)
    if got is None:
        raise ExchangeError(Reason.TIMEOUT)
    outcome, new_row = got
    if outcome == "NOT_ATTEMPTED" or outcome is None:  # pre-check refused the new order (or it was voided)
        raise ExchangeError(rejection(new_row.get("reject_reason")))
    cancel: dict | Failure = Failure(Reason.CANCEL_REJECTED)
    if outcome == "CANCELED":
        canceled = get_order(account_id, symbol, order_id=old_id, clients=clients)
        if canceled is None:  # the engine has just canceled it: its row exists
            raise LookupError(f"order {old_id} of {symbol}, canceled by a cancel-replace, is not in Aurora")
        cancel = canceled
    if new_row["status"] == "REJECTED":
        if outcome != "CANCELED" and mode == "STOP_ON_FAILURE":
            return CancelReplaceResult(cancel, None)
        return CancelReplaceResult(cancel, rejection(new_row.get("reject_reason")))
    result = order_dict(new_row)
    result["fills"] = fills(new_id, clients) if Decimal(str(new_row["executed_qty"])) > 0 else []
    return CancelReplaceResult(cancel, result)


# -- amend keep priority: an intent like a cancel, answered from the engine's outcome -------------
_CLAIM_AMEND = (
    "INSERT INTO intent_outbox (intent_id, account_id, symbol, kind, order_id, payload)"
    " SELECT :iid, :a, :s, 'AMEND', o.order_id, jsonb_build_object('kind', 'AMEND', 'order_id', o.order_id,"
    " 'account_id', o.account_id, 'new_qty', CAST(:q AS bigint), 'new_client_order_id', CAST(:c AS text))"
    " FROM orders o WHERE o.order_id = :o AND o.account_id = :a AND o.symbol = :s"
    f" AND o.status IN {_OPEN_SQL}"
    " AND NOT EXISTS (SELECT 1 FROM orders x WHERE x.account_id = :a AND x.client_order_id = :c"
    " AND x.order_id <> o.order_id)"
    " AND NOT EXISTS (SELECT 1 FROM order_amendments m WHERE m.account_id = :a AND m.orig_client_order_id = :c"
    " AND m.order_id <> o.order_id)"
    " RETURNING intent_id, CAST(payload AS text) AS payload")
_AMENDMENT_COLS = ("symbol, order_id, execution_id, orig_client_order_id, new_client_order_id, orig_qty, new_qty,"
                   " CAST(extract(epoch FROM amended_at) * 1000 AS bigint) AS time_ms")


def _amend_refusal(outcome: str | None) -> Failure:
    """The engine's refusal of an amend as Binance answers it: an order that is not open
    (or not the caller's) is -2038 "Unknown order sent.", the rest their own code."""
    name = (outcome or "").partition(":")[2]
    reason = Reason.__members__.get(name, Reason.AMEND_UNKNOWN_ORDER)
    if reason in (Reason.NO_SUCH_ORDER, Reason.CANCEL_REJECTED):
        reason = Reason.AMEND_UNKNOWN_ORDER
    return Failure(reason)


def amend_order(account_id: int, symbol: str, order_id: int | None, orig_client_order_id: str | None,
                new_client_order_id: str, new_qty: Decimal, clients=None, wait_s: float = 3.0) -> dict:
    """Lower an open order's quantity keeping its place in the queue (Binance's order
    amend keep priority), through the matcher like a cancel: the AMEND intent's outbox
    row is written (only while the order is open and ``new_client_order_id`` is not
    another order's), put, and answered from the engine's outcome for *this* intent,
    stamped by the settlement that also released the reservation of the removed
    quantity and recorded the amendment.  Returns ``{"order": order row after,
    "amendment": the amendments row}``.

    Refusals: not open / not the caller's -2038 "Unknown order sent."; ``newQty`` not
    below the order's quantity -2038 (equal: "would change no state"); a
    ``newClientOrderId`` in use -2038 "Duplicate order sent."; a quantity off the step
    size or below minQty -1013 LOT_SIZE; no answer within ``wait_s`` -1007."""
    import uuid

    from chalicelib.db import autocommit

    clients = _clients(clients)
    spec = _spec(symbol)
    if spec.status != "TRADING":
        raise ExchangeError(Failure(Reason.AMEND_UNKNOWN_ORDER, "Market is closed."))
    if not new_client_order_id or not _CLIENT_ID.match(new_client_order_id):
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, "Illegal characters found in parameter 'newClientOrderId';"
                                    " legal range is '^[a-zA-Z0-9-_]{1,36}$'."))
    amend = codec_for(spec).amend(order_id=0, account_id=account_id, new_qty=new_qty)
    if isinstance(amend, Reason):
        raise ExchangeError(amend)
    tx = autocommit(clients)
    row = _find(tx, account_id, symbol, order_id, orig_client_order_id)
    if row is None or row["status"] in DONE_STATUSES:
        raise ExchangeError(Reason.AMEND_UNKNOWN_ORDER)
    if row.get("order_list_id") is not None:  # its reservation is the list's (see chalicelib/orderlists.py)
        raise ExchangeError(Failure(Reason.UNSUPPORTED_OPERATION, "Amending an order of an order list is not"
                                    " supported."))
    orig = Decimal(str(row["orig_qty"]))
    if new_qty == orig:
        raise ExchangeError(Reason.AMEND_NO_CHANGE)
    if new_qty > orig:
        raise ExchangeError(Reason.ORDER_AMEND_QTY_INCREASE)
    if amend.new_qty < codec_for(spec).filters.min_qty:
        raise ExchangeError(Reason.FILTER_LOT_SIZE)
    oid = int(row["order_id"])
    intent_id = f"{account_id}:amend:{oid}:{uuid.uuid4().hex}"
    claim = tx.one(_CLAIM_AMEND, {"iid": intent_id, "a": account_id, "s": symbol, "o": oid, "q": amend.new_qty,
                                  "c": new_client_order_id})
    if claim is None:
        now = tx.one(f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = :o", {"o": oid})
        if now is not None and now["status"] not in DONE_STATUSES:
            raise ExchangeError(Reason.AMEND_DUPLICATE)  # newClientOrderId names another order
        raise ExchangeError(Reason.AMEND_UNKNOWN_ORDER)
    put_intent(intent_id, symbol, account_id, "AMEND", oid, json.loads(claim["payload"]))
    got = await_outcomes({intent_id: oid}, wait_s, clients).get(intent_id)
    if got is None:
        raise ExchangeError(Reason.TIMEOUT)
    outcome, after = got
    if outcome != "AMENDED":
        raise ExchangeError(_amend_refusal(outcome))
    amendment = autocommit(clients).one(f"SELECT {_AMENDMENT_COLS} FROM order_amendments WHERE intent_id = :i",
                                        {"i": intent_id})
    if amendment is None:
        raise LookupError(f"amend {intent_id} settled AMENDED without its amendment row")
    return {"order": order_dict(after), "amendment": amendment}


def order_amendments(account_id: int, symbol: str, order_id: int, from_execution_id: int | None = None,
                     limit: int = 500, clients=None) -> list[dict]:
    """The amendments of one of the account's orders, oldest first (Binance's
    ``GET /api/v3/order/amendments``); -2013 if the account has no such order."""
    from chalicelib.db import autocommit

    _spec(symbol)
    tx = autocommit(_clients(clients))
    rows = tx.query(
        f"SELECT true AS known, {_AMENDMENT_COLS} FROM order_amendments WHERE order_id = :o AND account_id = :a"
        " AND symbol = :s AND (CAST(:f AS bigint) IS NULL OR execution_id >= :f)"
        " UNION ALL SELECT false, symbol, order_id, NULL, NULL, NULL, NULL, NULL, NULL FROM orders"
        " WHERE order_id = :o AND account_id = :a AND symbol = :s"
        " ORDER BY known, execution_id LIMIT :l",
        {"o": int(order_id), "a": account_id, "s": symbol, "f": from_execution_id,
         "l": max(1, min(int(limit or 500), 1000)) + 1})
    if not rows or rows[0]["known"]:
        raise ExchangeError(Reason.NO_SUCH_ORDER)
    return [r for r in rows if r["known"]]


# -- reads: one statement each, so one Data API call (no Begin/Commit) through
#    ``autocommit``; a read of two statements (an order, then its fills) needs no
#    snapshot across them: fills are only ever added, and the order row read first.
def get_order(account_id: int, symbol: str, order_id=None, orig_client_order_id=None, clients=None) -> dict | None:
    from chalicelib.db import autocommit

    _spec(symbol)
    row = _find(autocommit(_clients(clients)), account_id, symbol, order_id, orig_client_order_id)
    return order_dict(row) if row else None


def open_orders(account_id: int, symbol: str | None = None, clients=None) -> list[dict]:
    from chalicelib.db import autocommit

    if symbol:
        _spec(symbol)
    rows = autocommit(_clients(clients)).query(
        f"SELECT {_ORDER_COLS} FROM orders WHERE account_id = :a AND (CAST(:s AS text) IS NULL OR symbol = :s)"
        f" AND status IN {_OPEN_SQL} ORDER BY order_id", {"a": account_id, "s": symbol})
    return [order_dict(r) for r in rows]


def _ms_to_ts(ms):
    return None if ms is None else int(ms)


def all_orders(account_id: int, symbol: str, order_id=None, start_time=None, end_time=None, limit=500,
               clients=None) -> list[dict]:
    from chalicelib.db import autocommit

    _spec(symbol)
    limit = max(1, min(int(limit or 500), 1000))
    rows = autocommit(_clients(clients)).query(
            f"SELECT {_ORDER_READ_COLS} FROM orders WHERE account_id = :a AND symbol = :s"
            " AND (CAST(:o AS bigint) IS NULL OR order_id >= :o)"
            " AND (CAST(:st AS bigint) IS NULL OR created_at >= to_timestamp(CAST(:st AS bigint) / 1000.0))"
            " AND (CAST(:et AS bigint) IS NULL OR created_at <= to_timestamp(CAST(:et AS bigint) / 1000.0))"
            " ORDER BY order_id " + ("ASC" if order_id is not None or start_time is not None else "DESC")
            + " LIMIT :l",
            {"a": account_id, "s": symbol, "o": order_id, "st": _ms_to_ts(start_time), "et": _ms_to_ts(end_time),
             "l": limit})
    return sorted((order_dict(r) for r in rows), key=lambda d: d["orderId"])


def my_trades(account_id: int, symbol: str, order_id=None, start_time=None, end_time=None, from_id=None, limit=500,
              clients=None) -> list[dict]:
    from chalicelib.db import autocommit

    spec = _spec(symbol)
    limit = max(1, min(int(limit or 500), 1000))
    rows = autocommit(_clients(clients)).query(
            "SELECT * FROM (SELECT t.*, true AS is_buyer, " + _TIME_MS + ", " + _LIST_OF.format("buyer")
            + " FROM trades t WHERE t.symbol = :s"
            " AND t.buyer_account_id = :a UNION ALL SELECT t.*, false AS is_buyer, " + _TIME_MS + ", "
            + _LIST_OF.format("seller") + " FROM trades t WHERE t.symbol = :s AND t.seller_account_id = :a) x"
            " WHERE (CAST(:o AS bigint) IS NULL"
            " OR (CASE WHEN is_buyer THEN buyer_order_id ELSE seller_order_id END) = :o)"
            " AND (CAST(:f AS bigint) IS NULL OR trade_id >= :f)"
            " AND (CAST(:st AS bigint) IS NULL OR executed_at >= to_timestamp(CAST(:st AS bigint) / 1000.0))"
            " AND (CAST(:et AS bigint) IS NULL OR executed_at <= to_timestamp(CAST(:et AS bigint) / 1000.0))"
            " ORDER BY trade_id " + ("ASC" if from_id is not None or start_time is not None else "DESC")
            + ", is_buyer LIMIT :l",
            {"s": symbol, "a": account_id, "o": order_id, "f": from_id, "st": _ms_to_ts(start_time),
             "et": _ms_to_ts(end_time), "l": limit})
    return sorted((trade_dict(r, spec) for r in rows), key=lambda d: (d["id"], not d["isBuyer"]))


_TIME_MS = "CAST(extract(epoch FROM t.executed_at) * 1000 AS bigint) AS time_ms"
# the order list of the account's side of a trade (myTrades' orderListId)
_LIST_OF = "(SELECT o.order_list_id FROM orders o WHERE o.order_id = t.{}_order_id) AS order_list_id"


def fills(order_id: int, clients=None) -> list[dict]:
    """The fills of an order, for newOrderRespType FULL."""
    from chalicelib.db import autocommit

    rows = autocommit(_clients(clients)).query(
        "SELECT trade_id, price, qty, buyer_order_id, buyer_fee, buyer_fee_asset, seller_fee, seller_fee_asset"
        " FROM trades WHERE buyer_order_id = :o OR seller_order_id = :o ORDER BY trade_id", {"o": order_id})
    return [fill_dict(r, order_id) for r in rows]


def wait_for_result(order_id: int, timeout_s: float, clients=None, until=None) -> dict | None:
    """The order once the matcher has processed it (status no longer PENDING_NEW, or
    in ``until``), polling the orders row; None on timeout.  The result carries
    ``fills`` (for newOrderRespType FULL)."""
    from chalicelib.db import autocommit

    clients = _clients(clients)

    def attempt():
        row = autocommit(clients).one(f"SELECT {_ORDER_READ_COLS} FROM orders WHERE order_id = :o",
                                      {"o": int(order_id)})
        if row is None:
            return None
        if not (row["status"] in until if until else row["status"] not in _IN_FLIGHT):
            return _PENDING
        d = order_dict(row)
        d["fills"] = fills(int(order_id), clients) if Decimal(str(row["executed_qty"])) > 0 else []
        return d

    return _poll(attempt, timeout_s, on_timeout=None)
