"""What a batch of engine events means in money, and its settlement in PostgreSQL.

:func:`derive` is pure: from the journal entries and the events the engine gave for
them it computes the fills (with exact and settled amounts and fees) and each
order's last state.  :func:`settle` applies that in *one* transaction (the caller's):
ledger transactions keyed ``trades:<symbol>:<first seq>-<last seq>`` (the batch's
trades, netted per account: :func:`trade_postings`) and
``release:<order_id>:<event seq>``, trade rows, order rows, prevented-match rows
(self-trade prevention), outbox acknowledgements, and last the fenced move of ``settlement_progress``.

Rounding (exact, so that money is conserved): a trade moves ``price x qty``
rounded *down* to the quote asset's precision from the buyer's locked quote to
the seller (a buyer's fills thus never exceed its reservation, which was rounded
up); each side's fee is the amount it receives x its rate (maker or taker),
rounded down to that asset's precision, and goes to the FEES account.

Idempotency: ``settlement_progress.last_seq`` is the last journal entry settled;
entries at or below it are skipped, so a replayed batch changes nothing, and the
ledger's txn keys and the trades' primary key make every row a no-op on repeat.
Fencing: the progress row moves only while its ``fencing_token`` is not above
ours; a stale owner's whole transaction rolls back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from operator import attrgetter

from chalicelib import ledger
from chalicelib.db import array_literal
from chalicelib.errors import Reason
from chalicelib.trading.events import EventKind
from chalicelib.trading.types import STOP_TYPES, ListStatusType, OrderStatus, Side

from . import listsettlement
from .journal import Entry

_ORDER, _TRADE, _REJECTED, _TRIGGERED = int(EventKind.ORDER), int(EventKind.TRADE), int(EventKind.REJECTED), int(
    EventKind.TRIGGERED)
_AMENDED, _PREVENTED, _LIST = int(EventKind.AMENDED), int(EventKind.PREVENTED), int(EventKind.LIST)
_ACTIVATED = int(EventKind.ACTIVATED)
_STOP_TYPES = frozenset(int(t) for t in STOP_TYPES)
_STOP_TYPE_NAMES = frozenset(t.name for t in STOP_TYPES)
TERMINAL = {int(OrderStatus.FILLED), int(OrderStatus.CANCELED), int(OrderStatus.EXPIRED),
            int(OrderStatus.EXPIRED_IN_MATCH), int(OrderStatus.REJECTED)}
_NEW = int(OrderStatus.NEW)
# the engine's status -> its name, looked up (``OrderStatus(s).name`` is two enum calls,
# twice per order of a batch: a visible part of settle's own CPU)
_STATUS_NAMES = {int(s): s.name for s in OrderStatus}


class Fenced(RuntimeError):
    """A newer owner holds the symbol: this worker's writes are refused."""


@dataclass
class Applied:
    entry: Entry
    events: list[tuple]


@dataclass(frozen=True)
class Fill:
    trade_id: int
    seq: int            # engine event seq
    jseq: int           # journal entry seq
    price: Decimal
    qty: Decimal
    quote: Decimal      # exact price x qty
    settled: Decimal    # quote rounded down to the quote precision: what moves
    buyer_order_id: int
    seller_order_id: int
    buyer_account: int
    seller_account: int
    is_buyer_maker: bool
    buyer_fee: Decimal
    seller_fee: Decimal
    time_ms: int


@dataclass
class OrderChange:
    order_id: int
    status: int | None = None       # last status in the batch (engine OrderStatus)
    executed_lots: int | None = None
    last_seq: int = 0
    reject_reason: str | None = None
    working: bool = False
    cum_quote: Decimal = Decimal(0)  # exact quote traded in the batch
    charged: Decimal = Decimal(0)    # reservation consumed by fills in the batch
    done_seq: int = 0                # event seq of the terminal status, if any
    book_seq: int = 0                # event seq at which it entered the book (accepted / triggered)
    placed_late: bool = False        # an order list's pending order, placed by another entry's events
    trailing_ms: int | None = None   # a trailing stop activated in the batch: its sequencing time


@dataclass(frozen=True)
class Amendment:
    """An AMENDED event: the order's quantity lowered in place (priority kept)."""

    intent_id: str
    seq: int            # engine event seq: Binance's executionId
    order_id: int
    leaves_lots: int    # after the amend
    executed_lots: int
    new_client_order_id: str
    time_ms: int


@dataclass(frozen=True)
class PreventedMatch:
    """A PREVENTED event: the taker met a resting order of its own account and its
    self-trade prevention mode stopped the match (Binance's prevented match)."""

    seq: int            # engine event seq: Binance's preventedMatchId
    maker_order_id: int
    taker_order_id: int
    price: Decimal
    qty: Decimal        # the maker's quantity that did not trade
    time_ms: int


@dataclass
class Derived:
    fills: list[Fill] = field(default_factory=list)
    orders: dict[int, OrderChange] = field(default_factory=dict)
    amendments: list[Amendment] = field(default_factory=list)
    prevented: list[PreventedMatch] = field(default_factory=list)
    lists: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # order lists' last status
    last_event_seq: int = 0


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(19)}


def _quantum(places: int) -> Decimal:
    """``10 ** -places`` (cached: a batch rounds three amounts per trade)."""
    q = _QUANTA.get(places)
    return q if q is not None else Decimal(1).scaleb(-places)


def _floor(v: Decimal, places: int) -> Decimal:
    return v.quantize(_quantum(places), rounding=ROUND_FLOOR)


def derive(spec, codec, applied: list[Applied]) -> Derived:
    d = Derived()
    orders = d.orders
    fills = d.fills
    last_event_seq = 0
    # the symbol's constants, read once per batch, not once per trade
    base_q, quote_q = _quantum(spec.base_precision), _quantum(spec.quote_precision)
    maker_fee, taker_fee = spec.maker_fee, spec.taker_fee

    def ch(oid: int) -> OrderChange:
        c = orders.get(oid)
        if c is None:
            c = orders[oid] = OrderChange(oid)
        return c

    for a in applied:
        new_ids, pending_stops = _placed(a.entry)
        placing_list = a.entry.kind == "NEW_LIST"
        for e in a.events:
            kind = e[1]
            if e[0] > last_event_seq:
                last_event_seq = e[0]
            if kind == _TRADE:
                _, _, trade_id, price, qty, quote_u, maker_side, maker_oid, taker_oid, maker_acct, taker_acct = e
                buyer_is_maker = maker_side == Side.BUY
                buyer_oid, seller_oid = (maker_oid, taker_oid) if buyer_is_maker else (taker_oid, maker_oid)
                buyer_acct, seller_acct = (maker_acct, taker_acct) if buyer_is_maker else (taker_acct, maker_acct)
                q = codec.qty(qty)
                quote = codec.quote(quote_u)
                settled = quote.quantize(quote_q, rounding=ROUND_FLOOR)
                b_rate = maker_fee if buyer_is_maker else taker_fee
                s_rate = taker_fee if buyer_is_maker else maker_fee
                f = Fill(trade_id, e[0], a.entry.seq, codec.price(price), q, quote, settled, buyer_oid, seller_oid,
                         buyer_acct, seller_acct, buyer_is_maker, (q * b_rate).quantize(base_q, rounding=ROUND_FLOOR),
                         (settled * s_rate).quantize(quote_q, rounding=ROUND_FLOOR), a.entry.ts)
                fills.append(f)
                b, s = ch(buyer_oid), ch(seller_oid)
                b.cum_quote += quote
                b.charged += settled
                s.cum_quote += quote
                s.charged += q
            elif kind == _ORDER:
                c = ch(e[2])
                c.status, c.executed_lots, c.last_seq = e[3], e[5], e[0]
                if e[3] == _NEW:
                    if e[2] in new_ids:
                        c.working = c.working or e[2] not in pending_stops
                    else:  # its type is in Aurora: settle() decides whether it works now
                        c.placed_late = True
                    c.book_seq = e[0]
                if e[3] in TERMINAL:
                    c.done_seq = e[0]
            elif kind == _REJECTED:
                oid, reason = e[2], e[3]
                if oid not in new_ids or reason == Reason.DUPLICATE_ORDER:
                    continue  # a failed cancel (or a repeat the sequencer should have dropped)
                c = ch(oid)
                c.status, c.executed_lots, c.last_seq = int(OrderStatus.REJECTED), 0, e[0]
                c.reject_reason, c.done_seq = getattr(reason, "name", str(reason)), e[0]
            elif kind == _TRIGGERED:
                c = ch(e[2])
                c.working = True
                c.last_seq = max(c.last_seq, e[0])
                c.book_seq = e[0]  # a fired stop takes its place in the queue now
            elif kind == _ACTIVATED:  # Binance's trailingTime: the batch's time (the engine reads no clock)
                c = ch(e[2])
                c.last_seq = max(c.last_seq, e[0])
                c.trailing_ms = a.entry.ts
            elif kind == _AMENDED:
                c = ch(e[2])
                c.last_seq = max(c.last_seq, e[0])
                d.amendments.append(Amendment(a.entry.intent_id, e[0], e[2], e[3], e[4],
                                              str(a.entry.payload["new_client_order_id"]), a.entry.ts))
            elif kind == _PREVENTED:
                ch(e[2]), ch(e[3])  # both orders' rows are read (account, the taker's mode)
                d.prevented.append(PreventedMatch(e[0], e[2], e[3], codec.price(e[4]), codec.qty(e[5]),
                                                  a.entry.ts))
            elif kind == _LIST:
                st = listsettlement.list_status(e, placing_list)
                if st is not None:
                    d.lists[e[2]] = st
    d.last_event_seq = last_event_seq
    return d


def _placed(entry: Entry) -> tuple[frozenset[int], frozenset[int]]:
    """The orders an entry places, and those of them that are stops (accepted pending,
    not working: a stop works, and rests, once triggered)."""
    p = entry.payload
    if entry.kind in ("NEW", "CANCEL_REPLACE"):  # one order: no generator, no second pass
        cmd = p["cmd"]
        placed = frozenset((int(cmd[0]),))
        return placed, (placed if int(cmd[3]) in _STOP_TYPES else _NONE)
    if entry.kind == "NEW_LIST":
        cmds = p["cmds"]
    else:
        return _NONE, _NONE
    return (frozenset(int(c[0]) for c in cmds),
            frozenset(int(c[0]) for c in cmds if int(c[3]) in _STOP_TYPES))


_NONE: frozenset[int] = frozenset()


def ensure_progress(tx, symbol: str, token: int) -> int:
    """Claim ``symbol``'s settlement progress for ``token`` (at takeover); the last
    settled journal seq.  Raises Fenced if a newer token holds it."""
    tx.execute("INSERT INTO settlement_progress (symbol) VALUES (:s) ON CONFLICT (symbol) DO NOTHING", {"s": symbol})
    row = tx.one("UPDATE settlement_progress SET fencing_token = :t, updated_at = now()"
                 " WHERE symbol = :s AND fencing_token <= :t RETURNING last_seq", {"s": symbol, "t": token})
    if row is None:
        raise Fenced(f"{symbol}: settlement progress is held by a newer owner")
    return int(row["last_seq"])


def progress(tx, symbol: str) -> tuple[int, int]:
    row = tx.one("SELECT last_seq, fencing_token FROM settlement_progress WHERE symbol = :s", {"s": symbol})
    return (int(row["last_seq"]), int(row["fencing_token"])) if row else (0, 0)


def trade_postings(symbol: str, base: str, quote: str, fills, lo: int, hi: int) -> ledger.LedgerTxn:
    """The batch's trades as ONE ledger transaction: per account, asset and bucket the
    net of every fill's six movements (the buyer's locked quote to the seller's free
    quote less the seller's fee, the seller's locked base to the buyer's free base less
    the buyer's fee, both fees to FEES), keyed ``trades:<symbol>:<lo>-<hi>`` (the
    batch's journal seqs; ``ref`` the same range).

    Why netted: six rows per trade were the largest single cost of settlement
    (bench/capacity.py: ~0.5 s of PostgreSQL per 5,000 orders, each row a unique-key
    insert and two foreign-key checks), and they repeated what the ``trades`` row of
    the same transaction already holds (both accounts, price, quantity, both fees).  A
    batch has at most a few rows per account in it.  The per-trade detail stays
    exact in ``trades``; the ledger still balances per asset and still sums to the
    balances; a batch is settled once (``settlement_progress``), and the key makes a
    repeat a no-op as before."""
    net: dict[tuple[int, str, str], Decimal] = {}
    get = net.get
    fees = ledger.FEES_ACCOUNT
    fees_quote, fees_base = (fees, quote, "free"), (fees, base, "free")
    for f in fills:  # six movements per fill, in this order (inline: a call each was most of this loop)
        k = (f.buyer_account, quote, "locked")
        net[k] = get(k, _ZERO) + -f.settled
        k = (f.seller_account, quote, "free")
        net[k] = get(k, _ZERO) + (f.settled - f.seller_fee)
        net[fees_quote] = get(fees_quote, _ZERO) + f.seller_fee
        k = (f.seller_account, base, "locked")
        net[k] = get(k, _ZERO) + -f.qty
        k = (f.buyer_account, base, "free")
        net[k] = get(k, _ZERO) + (f.qty - f.buyer_fee)
        net[fees_base] = get(fees_base, _ZERO) + f.buyer_fee
    postings = tuple(ledger.Posting(a, s, b, m) for (a, s, b), m in sorted(net.items()) if m != 0)
    return ledger.LedgerTxn(f"trades:{symbol}:{lo}-{hi}", "TRADE", postings, ref=f"{symbol}:{lo}-{hi}")


_ZERO = Decimal(0)


def _decimal(v) -> Decimal:
    """An amount of an orders row as a Decimal: psycopg gives one already (no text round
    trip, once per order of a batch); anything else goes through its text."""
    return v if v.__class__ is Decimal else Decimal(str(v))


# The batch's orders rows: what every batch reads (the reservation, whose account,
# whether a stop, the order list), and what amendments and prevented matches read
# besides; a batch of fills only reads the first -- half the columns of thousands of
# rows (bench/capacity.py: the read's CPU in the matcher).
_ORDER_ROWS = ("SELECT order_id, account_id, type, reserved_asset, reserved_left, order_list_id FROM orders"
               " WHERE order_id = ANY(CAST(:ids AS bigint[]))")
_ORDER_ROWS_FULL = _ORDER_ROWS.replace(" FROM orders", ", side, price, stop_price, orig_qty, client_order_id, status,"
                                                       " stp_mode FROM orders")


@dataclass
class SettleResult:
    settled_entries: int = 0
    fills: int = 0
    statements: int = 0


def settle(tx, spec, codec, symbol: str, applied: list[Applied], token: int,
           derived: Derived | None = None) -> SettleResult:
    """Settle the entries of ``applied`` not settled yet, in the caller's transaction.
    ``derived`` is :func:`derive` of all of ``applied`` when the caller has it already
    (used when none of them is settled yet, the usual case)."""
    res = SettleResult()
    last_seq, held_by = progress(tx, symbol)
    res.statements += 1
    if held_by > token:
        raise Fenced(f"{symbol}: token {token} < {held_by}")
    todo = [a for a in applied if a.entry.seq > last_seq]
    if not todo:
        return res
    d = derived if derived is not None and len(todo) == len(applied) else derive(spec, codec, todo)
    hi = todo[-1].entry.seq
    base, quote = spec.base_asset, spec.quote_asset
    ids = sorted(d.orders)
    rows = {int(r["order_id"]): r for r in tx.query(
        _ORDER_ROWS_FULL if d.amendments or d.prevented else _ORDER_ROWS, {"ids": array_literal(ids)})}
    res.statements += 1
    missing = [i for i in ids if i not in rows]
    if missing:
        raise RuntimeError(f"{symbol}: events for unknown orders {missing[:5]}")

    txns: list[ledger.LedgerTxn] = []
    if d.fills:
        txns.append(trade_postings(symbol, base, quote, d.fills, todo[0].entry.seq, hi))
    amended = _amend(spec, codec, symbol, d.amendments, rows, txns) if d.amendments else None
    updates: list[tuple] = []
    released = amended.released if amended else {}
    orders = d.orders
    lefts = {oid: _decimal(rows[oid]["reserved_left"]) - orders[oid].charged - released.get(oid, 0) for oid in ids}
    if any(r.get("order_list_id") is not None for r in rows.values()):  # order lists: pooled reservations
        pooled = listsettlement.pool_lefts(tx, rows, lefts, {
            oid: (_STATUS_NAMES[c.status] if c.status is not None else None, c.done_seq)
            for oid, c in orders.items()})
        for oid, left in pooled.items():
            if oid in lefts:
                lefts[oid] = left
            else:  # a leg of a touched list that the batch did not touch
                updates.append((oid, None, None, "0", str(left), 0, False, None, None, None))
    for oid in ids:
        c, r = orders[oid], rows[oid]
        left = lefts[oid]
        if left < 0:
            raise RuntimeError(f"order {oid} overdrew its reservation by {-left}")
        if c.done_seq and left > 0:
            txns.append(ledger.transfer(f"release:{oid}:{c.done_seq}", "RELEASE", r["reserved_asset"], left,
                                        (int(r["account_id"]), "locked"), (int(r["account_id"]), "free"),
                                        ref=str(oid)))
            left = Decimal(0)
        status = _STATUS_NAMES[c.status] if c.status is not None else None
        executed = str(codec.qty(c.executed_lots)) if c.executed_lots is not None else None
        working = c.working or (c.placed_late and r["type"] not in _STOP_TYPE_NAMES)
        updates.append((oid, status, executed, str(c.cum_quote), str(left), c.last_seq, working, c.reject_reason,
                        c.book_seq or None, c.trailing_ms))
    # The writes go out as one pipeline (one round trip, not one per statement: under
    # load a round trip was milliseconds, a dozen per batch); their checks come after.
    with ledger.overdraft_guard(), tx.pipeline():
        ledger_check = ledger.send_new(tx, txns)
        res.statements += 2 if txns else 0
        if d.fills:
            _insert_trades(tx, symbol, spec, d.fills)
            res.statements += 1
        if updates:
            _update_orders(tx, updates)
            res.statements += 1
        if amended:
            res.statements += amended.write(tx)
        if d.prevented:
            _insert_prevented(tx, symbol, d.prevented, rows)
            res.statements += 1
        res.statements += listsettlement.update_lists(tx, d.lists)
        tx.send("UPDATE intent_outbox SET sent_at = now() WHERE intent_id = ANY(CAST(:ids AS text[]))"
                " AND sent_at IS NULL", {"ids": array_literal([a.entry.intent_id for a in applied])})
        res.statements += record_cancel_outcomes(tx, todo)
        # the engine's counters go along, so that a book rebuilt from Aurora continues them
        moved = tx.send("UPDATE settlement_progress SET last_seq = :hi, fencing_token = :t, updated_at = now(),"
                        " event_seq = GREATEST(event_seq, :es), trade_id = GREATEST(trade_id, :tid)"
                        " WHERE symbol = :s AND fencing_token <= :t AND last_seq = :lo RETURNING last_seq",
                        {"hi": hi, "t": token, "s": symbol, "lo": last_seq, "es": d.last_event_seq,
                         "tid": max((f.trade_id for f in d.fills), default=0)})
        res.statements += 2
    ledger_check()
    if moved.fetchone() is None:
        raise Fenced(f"{symbol}: settlement progress moved under us (token {token})")
    res.settled_entries, res.fills = len(todo), len(d.fills)
    return res


@dataclass
class _Amended:
    """What a batch's amendments write: the orders' new quantity and client order id
    (``orders``: order id -> (orig_qty, client_order_id)), the reservation each
    released, and the amendments rows."""

    symbol: str
    orders: dict[int, tuple[Decimal, str]] = field(default_factory=dict)
    released: dict[int, Decimal] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)

    def write(self, tx) -> int:
        a = array_literal
        ids = list(self.orders)
        tx.send(_AMEND_ORDERS, {"o": a(ids), "q": a(self.orders[i][0] for i in ids),
                                   "c": a(self.orders[i][1] for i in ids)})
        cols = list(zip(*self.rows, strict=True))
        tx.send(_INSERT_AMENDMENTS, {"s": self.symbol, **{k: a(v) for k, v in zip(
            ("e", "o", "acc", "i", "oc", "nc", "oq", "nq", "ts"), cols, strict=True)}})
        return 2


def _amend(spec, codec, symbol: str, amendments: list[Amendment], rows: dict[int, dict],
           txns: list[ledger.LedgerTxn]) -> _Amended:
    """Each AMENDED event, in order: the order's quantity becomes what executed plus
    what is left; the reservation of the removed quantity is released exactly -- a
    SELL's removed base quantity, a BUY's reservation for its old leaves less that for
    its new leaves, both priced as the order was reserved (``orders.buy_reservation``,
    so what stays covers the rest of the order at its price); an amend that leaves
    nothing makes the order FILLED and the terminal release frees the rest.  The client
    order id becomes the amend's ``newClientOrderId`` unless another of the account's
    orders took it meanwhile (then it stays; the API refused every id in use when it
    accepted the amend)."""
    from chalicelib.orders import buy_reservation, buy_reserve_ticks

    out = _Amended(symbol)
    state = {oid: (Decimal(str(r["orig_qty"])), str(r["client_order_id"])) for oid, r in rows.items()}
    taken = {(int(r["account_id"]), str(r["client_order_id"])) for r in rows.values()}
    for am in amendments:
        r = rows[am.order_id]
        acct = int(r["account_id"])
        orig, cid = state[am.order_id]
        new_orig_lots = am.leaves_lots + am.executed_lots
        new_orig = codec.qty(new_orig_lots)
        old_leaves = spec.qty_to_lots(orig) - am.executed_lots
        released = Decimal(0)
        if am.leaves_lots and old_leaves > am.leaves_lots:
            if r["side"] == "SELL":
                released = codec.qty(old_leaves - am.leaves_lots)
            else:
                ticks = buy_reserve_ticks(spec, r["type"], r["price"], r["stop_price"])
                if ticks is not None:
                    released = buy_reservation(spec, ticks, old_leaves) - buy_reservation(spec, ticks, am.leaves_lots)
        if released > 0:
            txns.append(ledger.transfer(f"amend:{am.order_id}:{am.seq}", "RELEASE", r["reserved_asset"], released,
                                        (acct, "locked"), (acct, "free"), ref=str(am.order_id)))
            out.released[am.order_id] = out.released.get(am.order_id, Decimal(0)) + released
        new_cid = cid
        if am.new_client_order_id == cid or (acct, am.new_client_order_id) not in taken:
            taken.discard((acct, cid))
            taken.add((acct, am.new_client_order_id))
            new_cid = am.new_client_order_id
        state[am.order_id] = out.orders[am.order_id] = (new_orig, new_cid)
        out.rows.append((am.seq, am.order_id, acct, am.intent_id, cid, new_cid, orig, new_orig, am.time_ms))
    return out


_AMEND_ORDERS = (
    "UPDATE orders o SET orig_qty = v.q, client_order_id = CASE WHEN v.c = o.client_order_id OR NOT EXISTS"
    " (SELECT 1 FROM orders x WHERE x.account_id = o.account_id AND x.client_order_id = v.c) THEN v.c"
    " ELSE o.client_order_id END"
    " FROM unnest(CAST(:o AS bigint[]), CAST(:q AS numeric[]), CAST(:c AS text[])) AS v(order_id, q, c)"
    " WHERE o.order_id = v.order_id")
_INSERT_AMENDMENTS = (
    "INSERT INTO order_amendments (symbol, execution_id, order_id, account_id, intent_id, orig_client_order_id,"
    " new_client_order_id, orig_qty, new_qty, amended_at)"
    " SELECT :s, e, o, acc, i, oc, nc, oq, nq, to_timestamp(ts / 1000.0)"
    " FROM unnest(CAST(:e AS bigint[]), CAST(:o AS bigint[]), CAST(:acc AS bigint[]), CAST(:i AS text[]),"
    " CAST(:oc AS text[]), CAST(:nc AS text[]), CAST(:oq AS numeric[]), CAST(:nq AS numeric[]),"
    " CAST(:ts AS bigint[])) AS v(e, o, acc, i, oc, nc, oq, nq, ts)"
    " ON CONFLICT DO NOTHING")


def cancel_outcomes(applied: list[Applied]) -> dict[str, str]:
    """What the engine did with the cancel of each CANCEL / CANCEL_REPLACE entry:
    ``CANCELED``, ``REJECTED`` (the order was not open in the book) or
    ``NOT_ATTEMPTED`` (a cancel-replace whose new order failed the pre-check); and with
    each AMEND: ``AMENDED`` or ``REJECTED:<engine reason>``.  The API answers each
    cancel or amend request from this, not from the order's status, so that of many
    cancels of one order exactly one is told CANCELED."""
    out: dict[str, str] = {}
    for a in applied:
        kind, p = a.entry.kind, a.entry.payload
        if kind == "AMEND":
            out[a.entry.intent_id] = _amend_outcome(a, int(p["order_id"]))
            continue
        if kind == "CANCEL_LIST":
            list_id = int(p["list_id"])
            done = any(e[1] == _LIST and e[2] == list_id and e[3] == ListStatusType.ALL_DONE for e in a.events)
            out[a.entry.intent_id] = "CANCELED" if done else "REJECTED"
            continue
        if kind not in ("CANCEL", "CANCEL_REPLACE"):
            continue
        target = int(p["order_id"] if kind == "CANCEL" else p.get("cancel_order_id") or 0)
        outcome = "NOT_ATTEMPTED"
        for e in a.events:
            if e[1] == _ORDER and e[2] == target and e[3] == OrderStatus.CANCELED:
                outcome = "CANCELED"
                break
            if e[1] == _REJECTED and e[2] == target:
                outcome = "REJECTED"
                break
        out[a.entry.intent_id] = outcome
    return out


def _amend_outcome(a: Applied, target: int) -> str:
    for e in a.events:
        if e[1] == _AMENDED and e[2] == target:
            return "AMENDED"
        if e[1] == _REJECTED and e[2] == target:
            return "REJECTED:" + getattr(e[3], "name", str(e[3]))
    return "REJECTED"


def record_cancel_outcomes(tx, applied: list[Applied]) -> int:
    """Stamp :func:`cancel_outcomes` on the intents' outbox rows (in the settlement
    transaction, so an outcome is visible together with the order's new state);
    the number of statements run."""
    outcomes = cancel_outcomes(applied)
    if not outcomes:
        return 0
    tx.send("UPDATE intent_outbox b SET outcome = v.outcome FROM (SELECT unnest(CAST(:ids AS text[])) AS id,"
               " unnest(CAST(:outs AS text[])) AS outcome) v WHERE b.intent_id = v.id AND b.outcome IS NULL",
               {"ids": list(outcomes), "outs": list(outcomes.values())})
    return 1


# Multi-row statements as one array parameter per column (unnest): the same text for
# every batch, so it is compiled and parsed once and planned fast, whatever the rows.
_INSERT_TRADES = (
    "INSERT INTO trades (symbol, trade_id, price, qty, quote_qty, buyer_order_id, seller_order_id,"
    " buyer_account_id, seller_account_id, is_buyer_maker, buyer_fee, buyer_fee_asset, seller_fee,"
    " seller_fee_asset, event_seq, executed_at)"
    " SELECT :sym, t, p, q, qq, bo, so, ba, sa, m, bf, :bfa, sf, :sfa, e, to_timestamp(ts / 1000.0)"
    " FROM unnest(CAST(:t AS bigint[]), CAST(:p AS numeric[]), CAST(:q AS numeric[]), CAST(:qq AS numeric[]),"
    " CAST(:bo AS bigint[]), CAST(:so AS bigint[]), CAST(:ba AS bigint[]), CAST(:sa AS bigint[]),"
    " CAST(:m AS boolean[]), CAST(:bf AS numeric[]), CAST(:sf AS numeric[]), CAST(:e AS bigint[]),"
    " CAST(:ts AS bigint[])) AS v(t, p, q, qq, bo, so, ba, sa, m, bf, sf, e, ts)"
    " ON CONFLICT (symbol, trade_id) DO NOTHING")

_UPDATE_ORDERS = (
    "UPDATE orders o SET status = COALESCE(v.status, o.status),"
    " executed_qty = COALESCE(v.executed, o.executed_qty),"
    " cum_quote_qty = o.cum_quote_qty + v.dq, reserved_left = v.reserved_left,"
    " last_event_seq = GREATEST(o.last_event_seq, v.seq), reject_reason = COALESCE(v.reason, o.reject_reason),"
    " working_at = CASE WHEN v.working THEN COALESCE(o.working_at, now()) ELSE o.working_at END,"
    " book_seq = COALESCE(v.book_seq, o.book_seq), updated_at = now(),"
    " trailing_at = COALESCE(o.trailing_at, to_timestamp(v.trailing_ms / 1000.0))"
    " FROM unnest(CAST(:o AS bigint[]), CAST(:st AS text[]), CAST(:ex AS numeric[]), CAST(:dq AS numeric[]),"
    " CAST(:l AS numeric[]), CAST(:sq AS bigint[]), CAST(:w AS boolean[]), CAST(:r AS text[]),"
    " CAST(:b AS bigint[]), CAST(:tm AS bigint[]))"
    " AS v(order_id, status, executed, dq, reserved_left, seq, working, reason, book_seq, trailing_ms)"
    " WHERE o.order_id = v.order_id")


# _INSERT_TRADES' array parameters and the Fill field each is a column of
_TRADE_PARAMS = ("t", "p", "q", "qq", "bo", "so", "ba", "sa", "m", "bf", "sf", "e", "ts")
_TRADE_FIELDS = attrgetter("trade_id", "price", "qty", "quote", "buyer_order_id", "seller_order_id", "buyer_account",
                           "seller_account", "is_buyer_maker", "buyer_fee", "seller_fee", "seq", "time_ms")


def _insert_trades(tx, symbol: str, spec, fills: list[Fill]) -> None:
    if not fills:
        return
    columns = zip(*map(_TRADE_FIELDS, fills), strict=True)  # the fills' fields read in C, one pass
    tx.send(_INSERT_TRADES, {"sym": symbol, "bfa": spec.base_asset, "sfa": spec.quote_asset,
                             **dict(zip(_TRADE_PARAMS, map(array_literal, columns), strict=True))})


_INSERT_PREVENTED = (
    "INSERT INTO prevented_matches (symbol, prevented_match_id, account_id, taker_order_id, maker_order_id,"
    " stp_mode, price, maker_prevented_qty, prevented_at)"
    " SELECT :s, e, acc, t, m, mode, p, q, to_timestamp(ts / 1000.0)"
    " FROM unnest(CAST(:e AS bigint[]), CAST(:acc AS bigint[]), CAST(:t AS bigint[]), CAST(:m AS bigint[]),"
    " CAST(:mode AS text[]), CAST(:p AS numeric[]), CAST(:q AS numeric[]), CAST(:ts AS bigint[]))"
    " AS v(e, acc, t, m, mode, p, q, ts)"
    " ON CONFLICT (symbol, prevented_match_id) DO NOTHING")


def _insert_prevented(tx, symbol: str, prevented: list[PreventedMatch], rows: dict[int, dict]) -> None:
    """The batch's prevented matches; the mode is the taker's (the one that decided)."""
    a = array_literal
    tx.send(_INSERT_PREVENTED, {
        "s": symbol, "e": a(p.seq for p in prevented),
        "acc": a(int(rows[p.taker_order_id]["account_id"]) for p in prevented),
        "t": a(p.taker_order_id for p in prevented), "m": a(p.maker_order_id for p in prevented),
        "mode": a(str(rows[p.taker_order_id]["stp_mode"]) for p in prevented),
        "p": a(p.price for p in prevented), "q": a(p.qty for p in prevented),
        "ts": a(p.time_ms for p in prevented)})


def _update_orders(tx, updates: list[tuple]) -> None:
    cols = zip(*updates, strict=True)
    names = ("o", "st", "ex", "dq", "l", "sq", "w", "r", "b", "tm")
    tx.send(_UPDATE_ORDERS, dict(zip(names, map(array_literal, cols), strict=True)))
