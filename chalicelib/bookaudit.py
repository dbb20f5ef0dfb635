"""The book audit: does a symbol's matching-engine book hold exactly Aurora's open orders?

Aurora is the system of record; the matcher's book (DynamoDB snapshot + journal, and
its memory) must agree with it.  The one check, used by the matcher on every
takeover (after recovery, before it matches anything) and by the operator command
``python -m chalicelib.cli audit-book SYMBOL``:

* :func:`read_aurora_book` reads what Aurora says the book is -- settlement progress,
  the engine counters as settled, the last trade, and every open order with its
  leaves quantity and the engine command it was placed with -- and lists what in
  Aurora itself does not add up (an open order whose fills disagree with its
  executed quantity, one with nothing left, one without the intent that placed it):
  money the matcher must not guess about;
* :func:`compare` sets an engine state (the engine's ``export_state()`` dict, plain
  data: this module needs no engine) against it, order by order: id, account, side,
  price, leaves, resting or pending stop.

Units are the engine's: price ticks, quantity lots (:class:`SymbolSpec`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

OPEN = ("NEW", "PARTIALLY_FILLED", "PENDING_CANCEL")
_SIDE = {"BUY": 0, "SELL": 1}
_STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
PAGE = 5000  # rows per query: the Data API answers at most 1 MB


@dataclass(frozen=True)
class OpenOrder:
    order_id: int
    account_id: int
    side: int            # Side
    price: int           # ticks (the engine command's)
    leaves: int          # lots
    orig: int            # lots
    is_stop: bool        # a stop not triggered yet (pending, not in the book's levels)
    cmd: tuple           # the NewOrder the order was placed with (ints)
    priority: tuple      # time priority within its level (stops: acceptance order)
    book_seq: int | None
    order_list_id: int | None = None  # the order list it belongs to, if any


@dataclass
class AuroraBook:
    symbol: str
    settled_seq: int = 0         # settlement_progress.last_seq
    fencing_token: int = 0
    event_seq: int = 0           # the highest engine event seq Aurora has seen
    trade_id: int = 0            # the highest trade id Aurora holds
    last_price: Decimal | None = None
    orders: list[OpenOrder] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # live order lists: list id -> (account, contingency type name)
    lists: dict[int, tuple[int, str]] = field(default_factory=dict)
    # the orders live lists hold back (an OTO's pending ones): list id -> their commands, in id order
    pending: dict[int, list[tuple]] = field(default_factory=dict)

    def by_id(self) -> dict[int, tuple]:
        return {o.order_id: (o.account_id, o.side, o.price, o.leaves, o.is_stop) for o in self.orders}


@dataclass
class AuditResult:
    symbol: str
    ok: bool
    differences: list[str]
    aurora_orders: int
    book_orders: int

    def message(self) -> str:
        if self.ok:
            return f"{self.symbol}: the book agrees with Aurora ({self.book_orders} open orders)"
        more = "" if len(self.differences) <= 10 else f" ... and {len(self.differences) - 10} more"
        return (f"{self.symbol}: the book disagrees with Aurora ({self.book_orders} in the book,"
                f" {self.aurora_orders} open in Aurora): " + "; ".join(self.differences[:10]) + more)


def read_aurora_book(tx, spec, symbol: str, page: int = PAGE) -> AuroraBook:
    """Aurora's view of ``symbol``'s book, read in ``tx`` (one snapshot of the data when
    the transaction is REPEATABLE READ; the matcher reads it while it holds the fence,
    so nothing settles meanwhile)."""
    book = AuroraBook(symbol)
    row = tx.one("SELECT last_seq, fencing_token, event_seq, trade_id FROM settlement_progress WHERE symbol = :s",
                 {"s": symbol})
    if row:
        book.settled_seq, book.fencing_token = int(row["last_seq"]), int(row["fencing_token"])
        book.event_seq, book.trade_id = int(row["event_seq"]), int(row["trade_id"])
    last = tx.one("SELECT trade_id, price, event_seq FROM trades WHERE symbol = :s ORDER BY trade_id DESC LIMIT 1",
                  {"s": symbol})
    if last:
        book.trade_id = max(book.trade_id, int(last["trade_id"]))
        book.event_seq = max(book.event_seq, int(last["event_seq"]))
        book.last_price = Decimal(str(last["price"]))
    if book.settled_seq and not book.event_seq:  # settled before these counters were kept
        book.event_seq = int(tx.scalar("SELECT COALESCE(max(last_event_seq), 0) FROM orders WHERE symbol = :s",
                                       {"s": symbol}))
    after = 0
    while True:
        rows = tx.query(
            "SELECT o.order_id, o.account_id, o.side, o.type, o.executed_qty, o.book_seq,"
            " o.last_event_seq, o.working_at IS NOT NULL AS working,"
            " CAST(extract(epoch FROM o.working_at) * 1000000 AS bigint) AS working_us,"
            # quantities in lots, and whether they are whole lots
            " CAST(trunc(o.orig_qty / CAST(:step AS numeric)) AS bigint) AS orig,"
            " CAST(trunc(o.executed_qty / CAST(:step AS numeric)) AS bigint) AS done,"
            " mod(o.orig_qty, CAST(:step AS numeric)) = 0 AND mod(o.executed_qty, CAST(:step AS numeric)) = 0"
            " AS whole, o.order_list_id, l.contingency_type, l.list_order_status,"
            # a list's orders were placed by one NEW_LIST intent (order_id: its first order)
            " CASE WHEN b.kind = 'NEW_LIST' THEN (SELECT CAST(c AS text) FROM jsonb_array_elements(b.payload -> 'cmds')"
            " c WHERE CAST(c ->> 0 AS bigint) = o.order_id) ELSE CAST(b.payload -> 'cmd' AS text) END AS cmd,"
            " COALESCE((SELECT sum(t.qty) FROM trades t WHERE t.buyer_order_id = o.order_id), 0)"
            " + COALESCE((SELECT sum(t.qty) FROM trades t WHERE t.seller_order_id = o.order_id), 0) AS filled"
            " FROM orders o LEFT JOIN order_lists l ON l.order_list_id = o.order_list_id"
            # the placing intent, looked up per order by index (intent_outbox_placing): the
            # order's own id, or its list's first order's id
            " LEFT JOIN LATERAL (SELECT x.kind, x.payload FROM intent_outbox x WHERE x.order_id ="
            " CASE WHEN o.order_list_id IS NULL THEN o.order_id ELSE (SELECT min(y.order_id) FROM orders y"
            " WHERE y.order_list_id = o.order_list_id) END"
            " AND x.kind IN ('NEW', 'CANCEL_REPLACE', 'NEW_LIST')) b ON TRUE"
            " WHERE o.symbol = :s AND o.status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL') AND o.order_id > :a"
            " ORDER BY o.order_id LIMIT :n", {"s": symbol, "a": after, "n": page, "step": str(spec.step_size)})
        for r in rows:
            oid = int(r["order_id"])
            book.event_seq = max(book.event_seq, int(r["last_event_seq"] or 0), int(r["book_seq"] or 0))
            executed, filled = Decimal(str(r["executed_qty"])), Decimal(str(r["filled"]))
            if executed != filled:
                book.problems.append(f"order {oid}: executed quantity {executed.normalize()} but its fills sum to"
                                     f" {filled.normalize()}")
                continue
            if r["cmd"] is None:
                book.problems.append(f"order {oid}: open, but the intent that placed it is missing")
                continue
            cmd = tuple(json.loads(r["cmd"]))
            orig, done = int(r["orig"]), int(r["done"])
            if not r["whole"] or cmd[0] != oid or cmd[1] != r["account_id"] or cmd[2] != _SIDE[r["side"]] \
                    or cmd[6] != orig:
                book.problems.append(f"order {oid}: its row and the intent that placed it disagree")
                continue
            leaves = orig - done
            if leaves <= 0:
                book.problems.append(f"order {oid}: open with nothing left (executed {executed.normalize()})")
                continue
            # a stop not triggered yet is not working; a stop settled before book_seq was kept
            # was marked working at acceptance: one with nothing executed is taken as pending
            is_stop = r["type"] in _STOP_TYPES and (not r["working"] or (r["book_seq"] is None and done == 0))
            if r["book_seq"] is None:  # settled before book_seq was kept: older than every other
                priority = (0, r["working_us"] or 0, oid)
            else:
                priority = (1, r["book_seq"], oid)
            list_id = None if r["order_list_id"] is None else int(r["order_list_id"])
            book.orders.append(OpenOrder(oid, r["account_id"], cmd[2], cmd[5], leaves, orig, is_stop, cmd,
                                         priority, r["book_seq"], list_id))
            if list_id is not None and r["list_order_status"] == "EXECUTING":
                book.lists[list_id] = (int(r["account_id"]), str(r["contingency_type"]))
        if len(rows) < page:
            break
        after = int(rows[-1]["order_id"])
    book.orders.sort(key=lambda o: o.priority)
    for r in tx.query(_HELD_BACK, {"s": symbol}):
        book.pending.setdefault(int(r["order_list_id"]), []).append(tuple(json.loads(r["cmd"])))
    return book


# the orders of live lists that the engine holds back: PENDING_NEW in a list whose placement
# was sequenced (another of its orders is not PENDING_NEW any more), with their commands
_HELD_BACK = (
    "SELECT o.order_list_id, CAST(c AS text) AS cmd FROM orders o"
    " JOIN order_lists l ON l.order_list_id = o.order_list_id AND l.list_order_status = 'EXECUTING'"
    " JOIN intent_outbox b ON b.kind = 'NEW_LIST' AND b.order_id = (SELECT min(x.order_id) FROM orders x"
    " WHERE x.order_list_id = o.order_list_id)"
    " CROSS JOIN LATERAL jsonb_array_elements(b.payload -> 'cmds') c"
    " WHERE o.symbol = :s AND o.status = 'PENDING_NEW' AND CAST(c ->> 0 AS bigint) = o.order_id"
    " AND EXISTS (SELECT 1 FROM orders f WHERE f.order_list_id = o.order_list_id AND f.status <> 'PENDING_NEW')"
    " ORDER BY o.order_id")


def book_orders(state: dict) -> dict[int, tuple]:
    """The open orders of an engine state (``OrderBook.export_state()``):
    ``order id -> (account, side, price, leaves, is_stop)``."""
    out: dict[int, tuple] = {}
    for side, key in ((0, "bids"), (1, "asks")):
        for price, queue in state[key]:
            for order_id, account, leaves, _orig, *_ in queue:
                out[order_id] = (account, side, price, leaves, False)
    for order_id, account, side, _type, _tif, price, qty, *_ in state["stops"]:
        out[order_id] = (account, side, price, qty, True)
    return out


def _describe(v: tuple) -> str:
    account, side, price, leaves, is_stop = v
    return (f"{'BUY' if side == 0 else 'SELL'} {leaves} lots at {price} ticks"
            f"{' (stop)' if is_stop else ''}, account {account}")


def compare(symbol: str, state: dict, aurora: AuroraBook) -> AuditResult:
    """Set the engine ``state`` against Aurora's open orders, order by order, and its
    counters against what Aurora recorded (a trade id or event seq handed out again
    would collide with Aurora's)."""
    mine, theirs = book_orders(state), aurora.by_id()
    diffs = list(aurora.problems)
    for oid in sorted(set(mine) | set(theirs)):
        a, b = mine.get(oid), theirs.get(oid)
        if a == b:
            continue
        if a is not None and b is not None:
            diffs.append(f"order {oid}: book has {_describe(a)}, Aurora has {_describe(b)}")
        elif a is not None:
            diffs.append(f"order {oid} is in the book ({_describe(a)}) but not open in Aurora")
        elif b is not None:
            diffs.append(f"order {oid} is open in Aurora ({_describe(b)}) but not in the book")
    if state["trade_id"] <= aurora.trade_id:
        diffs.append(f"the book's next trade id {state['trade_id']} is not above Aurora's last {aurora.trade_id}")
    if state["seq"] <= aurora.event_seq:
        diffs.append(f"the book's next event seq {state['seq']} is not above Aurora's last {aurora.event_seq}")
    return AuditResult(symbol, not diffs, diffs, len(theirs), len(mine))
