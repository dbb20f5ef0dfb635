"""Standing a symbol's book back up at takeover: from DynamoDB when it accounts for
Aurora, else from Aurora, the system of record.

DynamoDB holds the engine snapshot and the journal after it; Aurora holds what was
settled (``settlement_progress.last_seq``) and the open orders.  DynamoDB *accounts
for* Aurora when its snapshot plus an unbroken journal reach at least the settled
seq.  Then the book is replayed to the settled seq, audited against Aurora's open
orders (:mod:`chalicelib.bookaudit`), and the journal after it is replayed and
settled as before.  When it does not -- tables recreated empty, a book or journal
table restored from an older backup, a snapshot too large to keep with its journal
trimmed -- the book is rebuilt from Aurora's open orders in their time priority
(:func:`state_from_aurora`), with the engine counters continuing Aurora's, and the
rebuilt book is audited too.  A book that disagrees with Aurora although DynamoDB
claims to cover it is not guessed at: the symbol stops.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.bookaudit import AuroraBook
from matcher.engine import OrderBook

from .journal import Entry, Journal


@dataclass
class DynamoBook:
    """What DynamoDB holds for a symbol: the restored snapshot and the journal after it."""

    book: OrderBook         # the engine book restored from the snapshot (empty without one)
    snapshot_seq: int
    positions: dict
    entries: list[Entry]
    gap: str | None         # why the journal does not follow on from the snapshot, if it does not

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else self.snapshot_seq

    def covers(self, settled_seq: int) -> bool:
        return self.gap is None and self.last_seq >= settled_seq


def load_dynamo_book(journal: Journal, symbol: str, book_cls, filters) -> DynamoBook:
    snap = journal.load_snapshot(symbol)
    if snap:
        snap_seq, data, positions = snap
        book = book_cls.restore(data, filters)
        positions = {k: int(v) for k, v in positions.items()}
    else:
        snap_seq, book, positions = 0, book_cls(filters), {}
    gap = None
    try:
        entries = journal.read_after(symbol, snap_seq)
    except RuntimeError as exc:  # a hole inside the journal
        entries, gap = [], str(exc)
    if entries and entries[0].seq != snap_seq + 1:
        gap = f"the journal starts at {entries[0].seq}, the snapshot is at {snap_seq}"
    return DynamoBook(book, snap_seq, positions, entries, gap)


def state_from_aurora(aurora: AuroraBook, spec) -> dict:
    """An engine state (``OrderBook.import_state``'s format) holding Aurora's open
    orders: each level FIFO in time priority, pending stops in acceptance order, and
    the counters continuing Aurora's (next event seq and trade id above any it holds,
    last price = the last trade's)."""
    bids: dict[int, list] = {}
    asks: dict[int, list] = {}
    stops = []
    legacy = -len(aurora.orders)  # stops settled before book_seq was kept: older than any other
    last = None if aurora.last_price is None else spec.price_to_ticks(aurora.last_price)
    for o in aurora.orders:  # already in time priority
        if o.is_stop:
            accept = o.book_seq if o.book_seq is not None else legacy
            legacy += 1
            c = o.cmd  # NewOrder: id, account, side, type, tif, price, qty, quote_qty, stop_price, stp_mode, ...
            row = [o.order_id, o.account_id, c[2], c[3], c[4], c[5], c[6], c[8], c[9], accept]
            iceberg, trailing = (c[10], c[11]) if len(c) > 11 else (0, 0)
            if iceberg or trailing:
                # Aurora does not keep a trailing stop's best price: one without a stop
                # price trails again from the last price, one with a stop price waits
                # for it again (see docs/api-differences.md)
                active = bool(trailing and not c[8])
                row += [iceberg, trailing, int(active), (last or 0) if active else 0]
            stops.append(row)
            continue
        row = [o.order_id, o.account_id, o.leaves, o.orig]
        iceberg = o.cmd[10] if len(o.cmd) > 10 else 0
        if iceberg and o.leaves > iceberg:  # an iceberg shows a fresh slice (its last one's rest is not kept)
            row += [iceberg, iceberg]
        elif iceberg:
            row += [o.leaves, iceberg]
        (bids if o.side == 0 else asks).setdefault(o.price, []).append(row)
    state = {"version": 1, "seq": aurora.event_seq + 1, "trade_id": aurora.trade_id + 1, "last_price": last,
             "bids": [[p, bids[p]] for p in sorted(bids, reverse=True)],
             "asks": [[p, asks[p]] for p in sorted(asks)],
             "stops": sorted(stops, key=lambda r: r[9])}
    lists = lists_from_aurora(aurora)
    if lists:
        state["lists"] = lists
    return state


def lists_from_aurora(aurora: AuroraBook) -> list:
    """The engine rows (``OrderLists._export_lists``) of Aurora's live lists, as the
    engine holds them: an OCO (or an OTOCO's placed pair) while both its legs are open;
    an OTO / OTOCO in its first phase with its working order open and its pending
    order(s) held back.  A list in any other shape binds nothing any more.  A pending
    order's row has every field of today's NewOrder (a command journaled before
    ``iceberg_qty`` / ``trailing_delta`` existed gets their defaults), as the engine
    exports it."""
    from chalicelib.trading.commands import NewOrder
    from chalicelib.trading.types import ContingencyType

    legs: dict[int, list[int]] = {}
    for o in aurora.orders:
        if o.order_list_id is not None:
            legs.setdefault(o.order_list_id, []).append(o.order_id)
    out = []
    for list_id in sorted(aurora.lists):
        account, contingency = aurora.lists[list_id]
        ids = sorted(legs.get(list_id, []))
        pending = [[int(x) for x in NewOrder(*c)] for c in aurora.pending.get(list_id, [])]
        kind = int(ContingencyType[contingency])
        pair_placed = contingency != "OTO" and len(ids) == 2 and not pending
        first_phase = len(ids) == 1 and len(pending) == (1 if contingency == "OTO" else 2)
        if pair_placed or (contingency != "OCO" and first_phase):
            out.append([list_id, account, kind, ids, pending])
    return out
