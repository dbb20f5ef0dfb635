"""The double-entry ledger and the balances it moves.

Every movement of money is a *ledger transaction*: a ``txn_key`` and postings
(account, asset, bucket free/locked, signed amount) that sum to zero per asset.
Posting inserts the entries (the unique key on ``txn_key`` makes a repeat a no-op)
and applies the deltas to ``balances`` in the same database transaction; a delta that
would take a balance below zero fails the CHECK and becomes INSUFFICIENT_BALANCE.

The EXTERNAL account is the world outside the exchange (the other side of deposits
and withdrawals); it has ledger entries but no balance row, so for every asset
sum(free + locked of all other accounts) == -(EXTERNAL's ledger sum)
== deposits - withdrawals.  FEES is an ordinary balance holder.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.db import CHECK_VIOLATION, Tx, Violation, array_literal, violation
from chalicelib.errors import ExchangeError, Reason

EXTERNAL_ACCOUNT = 1  # created first by migration 0001
FEES_ACCOUNT = 2

KINDS = ("DEPOSIT", "WITHDRAWAL", "RESERVE", "RELEASE", "TRADE", "FEE")


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    asset: str
    bucket: str  # "free" | "locked"
    amount: Decimal  # signed


@dataclass(frozen=True, slots=True)
class LedgerTxn:
    txn_key: str
    kind: str
    postings: tuple[Posting, ...]
    ref: str | None = None

    def check(self) -> None:
        """Refuse an unbalanced or malformed transaction (a bug, not user input)."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown ledger kind {self.kind}")
        sums: dict[str, Decimal] = defaultdict(Decimal)
        seen = set()
        for p in self.postings:
            if p.bucket not in ("free", "locked") or p.amount == 0:
                raise ValueError(f"bad posting {p}")
            key = (p.account_id, p.asset, p.bucket)
            if key in seen:
                raise ValueError(f"duplicate posting {key} in {self.txn_key}")
            seen.add(key)
            sums[p.asset] += p.amount
        unbalanced = {a: s for a, s in sums.items() if s != 0}
        if unbalanced:
            raise ValueError(f"ledger txn {self.txn_key} does not balance: {unbalanced}")


def transfer(txn_key: str, kind: str, asset: str, amount: Decimal, src: tuple[int, str], dst: tuple[int, str],
             ref: str | None = None) -> LedgerTxn:
    """The common two-posting transaction: ``amount`` of ``asset`` from src to dst,
    each given as (account_id, bucket)."""
    return LedgerTxn(txn_key, kind, (Posting(src[0], asset, src[1], -amount), Posting(dst[0], asset, dst[1], amount)),
                     ref)


def post(tx: Tx, txn: LedgerTxn) -> bool:
    """Apply one ledger transaction; False if it had been applied before."""
    return txn.txn_key in post_many(tx, [txn])


def post_many(tx: Tx, txns: Sequence[LedgerTxn], arrays: bool = False) -> set[str]:
    """Apply many ledger transactions in two statements; return the txn_keys applied
    now (the others had been applied before and change nothing).  Raises
    ExchangeError(INSUFFICIENT_BALANCE) if any balance would go negative — the caller's
    transaction must then roll back.

    ``arrays``: send the rows as one array parameter per column (``unnest``) instead of
    a VALUES list of seven parameters per posting -- the same text every time, so it is
    parsed once and planned fast (direct PostgreSQL only: the Data API takes no arrays)."""
    if not txns:
        return set()
    for t in txns:
        t.check()
    inserted = tx.execute(*_entries_statement(txns, arrays))
    applied = _applied(txns, inserted)
    apply_deltas(tx, (p for t in txns if t.txn_key in applied for p in t.postings), arrays)
    return applied


def send_new(tx, txns: Sequence[LedgerTxn]) -> Callable[[], None]:
    """:func:`post_many` for transactions the caller knows are new (settlement: its
    progress row says the batch was never settled), in a pipeline
    (:meth:`chalicelib.db.PgTx.pipeline`): the entries, the ordered row locks and the
    balance deltas go out together, without waiting for each other.  Returns the
    check to run once the pipeline is read: every posting was inserted now -- else a
    RuntimeError, and the caller's transaction must roll back (the deltas were applied
    for all of them).  An overdraft fails the pipeline (run it under
    :func:`overdraft_guard`)."""
    if not txns:
        return lambda: None
    for t in txns:
        t.check()
    cur = tx.send(*_entries_statement(txns, True))
    for sql, params in _delta_statements(
            (p for t in txns for p in t.postings), True):
        tx.send(sql, params)

    def check() -> None:
        applied = _applied(txns, [tuple(r) for r in cur.fetchall()])
        if len(applied) != len(txns):
            raise RuntimeError(f"ledger txns already present: {sorted({t.txn_key for t in txns} - applied)[:5]}")
    return check


def _entries_statement(txns: Sequence[LedgerTxn], arrays: bool) -> tuple[str, dict[str, object]]:
    """The INSERT of ``txns``' entries, returning the txn_key of each entry inserted now."""
    params: dict[str, object]
    if arrays:
        cols: tuple[list, ...] = ([], [], [], [], [], [], [])
        for t in txns:
            for p in t.postings:
                for col, v in zip(cols, (t.txn_key, p.account_id, p.asset, p.bucket, str(p.amount), t.kind, t.ref),
                                  strict=True):
                    col.append(v)
        params = dict(zip(("k", "a", "s", "b", "m", "t", "r"), map(array_literal, cols), strict=True))
        rows_sql = ("SELECT * FROM unnest(CAST(:k AS text[]), CAST(:a AS bigint[]), CAST(:s AS text[]),"
                    " CAST(:b AS text[]), CAST(:m AS numeric[]), CAST(:t AS text[]), CAST(:r AS text[]))")
    else:
        params = {}
        rows = []
        i = 0
        for t in txns:
            for p in t.postings:
                rows.append(f"(:k{i}, :a{i}, :s{i}, :b{i}, CAST(:m{i} AS numeric), :t{i}, :r{i})")
                params.update({f"k{i}": t.txn_key, f"a{i}": p.account_id, f"s{i}": p.asset, f"b{i}": p.bucket,
                               f"m{i}": str(p.amount), f"t{i}": t.kind, f"r{i}": t.ref})
                i += 1
        rows_sql = "VALUES " + ", ".join(rows)
    return "WITH " + entries_cte("e", rows_sql) + " SELECT txn_key FROM e", params


def _applied(txns: Sequence[LedgerTxn], inserted: Iterable[tuple]) -> set[str]:
    """The txn_keys whose every posting is among ``inserted`` (a txn only partly
    present is a bug: RuntimeError)."""
    counts: dict[str, int] = defaultdict(int)
    for (key,) in inserted:
        counts[key] += 1
    applied = set()
    for t in txns:
        n = counts.get(t.txn_key, 0)
        if n == len(t.postings):
            applied.add(t.txn_key)
        elif n:
            raise RuntimeError(f"ledger txn {t.txn_key} partially present: {n}/{len(t.postings)} entries")
    return applied


# -- the posting logic, as SQL fragments --------------------------------------------------
# ``post_many`` runs these as two statements with a check in between; the order entry
# path (chalicelib.orders) splices them into its one statement, so that placing an
# order is a single Data API call.  Either way it is the same SQL.
def entries_cte(name: str, rows_sql: str) -> str:
    """``name AS (INSERT ...)``: insert the ledger entries that ``rows_sql`` yields
    (columns txn_key, account_id, asset, bucket, amount, kind, ref); an entry already
    present is skipped (the unique key makes a repeat a no-op).  RETURNING only the
    entries inserted now, so deltas taken from it apply each posting exactly once."""
    return (f"{name} AS (INSERT INTO ledger_entries (txn_key, account_id, asset, bucket, amount, kind, ref) "
            + rows_sql + " ON CONFLICT (txn_key, account_id, asset, bucket) DO NOTHING"
            " RETURNING txn_key, account_id, asset, bucket, amount)")


def deltas_from_entries_cte(name: str, entries: str, condition: str = "TRUE") -> str:
    """``name(account_id, asset, free, locked) AS (...)``: the balance deltas of the
    entries CTE ``entries`` (EXTERNAL has no balance row), under ``condition``."""
    return (f"{name}(account_id, asset, free, locked) AS (SELECT account_id, asset,"
            " sum(CASE WHEN bucket = 'free' THEN amount ELSE 0 END),"
            " sum(CASE WHEN bucket = 'locked' THEN amount ELSE 0 END)"
            f" FROM {entries} WHERE account_id <> {EXTERNAL_ACCOUNT} AND {condition} GROUP BY account_id, asset)")


def balance_ctes(deltas: str, prefix: str = "") -> str:
    """Two CTEs applying the relation ``deltas(account_id, asset, free, locked)`` to
    ``balances``: existing rows updated in place, missing ones inserted.  (An INSERT
    ... ON CONFLICT alone would check the CHECK constraint against the bare delta.)
    A balance going below zero fails the CHECK ``balance_not_negative``: run the
    statement under :func:`overdraft_guard`.  Rows are not locked in a global order
    here: a caller touching more than one balance row takes the locks first (as
    :func:`apply_deltas` does)."""
    return (f"{prefix}upd AS (UPDATE balances b SET free = b.free + d.free, locked = b.locked + d.locked,"
            f" updated_at = now() FROM {deltas} d WHERE b.account_id = d.account_id AND b.asset = d.asset"
            " RETURNING b.account_id, b.asset),"
            f" {prefix}ins AS (INSERT INTO balances AS b (account_id, asset, free, locked)"
            f" SELECT d.account_id, d.asset, d.free, d.locked FROM {deltas} d WHERE NOT EXISTS"
            f" (SELECT 1 FROM {prefix}upd u WHERE u.account_id = d.account_id AND u.asset = d.asset)"
            " ON CONFLICT (account_id, asset) DO UPDATE SET free = b.free + excluded.free,"
            " locked = b.locked + excluded.locked, updated_at = now())")


OVERDRAFT = Violation(CHECK_VIOLATION, "balance_not_negative")  # the CHECK on balances (migration 0001)


@contextmanager
def overdraft_guard():
    """Turn the CHECK that keeps balances non-negative into INSUFFICIENT_BALANCE: the
    constraint is the guard against overdraft, recognised by its SQLSTATE and name
    (:func:`chalicelib.db.violation`); every other error passes through."""
    try:
        yield
    except Exception as exc:
        if violation(exc) == OVERDRAFT:
            raise ExchangeError(Reason.INSUFFICIENT_BALANCE) from None
        raise


def single_row_postings(txn: LedgerTxn) -> None:
    """Refuse a transaction to be spliced into another statement when it touches more
    than one balance row: those need the ordered row locks of :func:`apply_deltas`
    (two concurrent statements could otherwise deadlock)."""
    txn.check()
    rows = {(p.account_id, p.asset) for p in txn.postings if p.account_id != EXTERNAL_ACCOUNT}
    if len(rows) > 1:
        raise ValueError(f"ledger txn {txn.txn_key} touches {len(rows)} balance rows; use post()")


def post_ctes(txn: LedgerTxn, source: str, key_suffix_sql: str, ref_sql: str, params: dict,
              prefix: str = "l") -> str:
    """CTEs that post ``txn`` once for each row of the CTE ``source`` of the same
    statement -- for a posting keyed by a value that statement allocates (the order
    path reserves ``reserve:<order_id>`` for the order it inserts, in one Data API
    call).  The stored txn_key is ``txn.txn_key`` followed by ``key_suffix_sql``, and
    ``ref`` is ``ref_sql`` (both SQL over ``source``'s columns).  Same semantics as
    :func:`post`: entries already present are skipped and only the entries inserted
    now move balances (idempotent); a transaction found partially present fails the
    statement; an overdraft fails the CHECK (run it under :func:`overdraft_guard`).
    Adds its parameters to ``params``; only for single-balance-row transactions (see
    :func:`single_row_postings`), so it needs no ordered locking."""
    single_row_postings(txn)
    rows = []
    for i, p in enumerate(txn.postings):
        rows.append(f"(CAST(:{prefix}a{i} AS bigint), :{prefix}s{i}, :{prefix}b{i}, CAST(:{prefix}m{i} AS numeric))")
        params.update({f"{prefix}a{i}": p.account_id, f"{prefix}s{i}": p.asset, f"{prefix}b{i}": p.bucket,
                       f"{prefix}m{i}": str(p.amount)})
    params.update({f"{prefix}key": txn.txn_key, f"{prefix}kind": txn.kind})
    entries = (f"SELECT CAST(:{prefix}key AS text) || {key_suffix_sql}, p.account_id, p.asset, p.bucket, p.amount,"
               f" CAST(:{prefix}kind AS text), {ref_sql} FROM {source} CROSS JOIN (VALUES {', '.join(rows)})"
               " AS p(account_id, asset, bucket, amount)")
    # A txn_key with some but not all of its entries inserted now was partially
    # present: fail the whole statement (a text that is no integer), as post_many
    # raises.  Uncorrelated, so it is checked once, before any delta is applied.
    partial = (f"(SELECT CAST(min('ledger txn partially present: ' || txn_key) AS integer) FROM"
               f" (SELECT txn_key FROM {prefix}e GROUP BY txn_key HAVING count(*) <> {len(txn.postings)}) x)")
    deltas = deltas_from_entries_cte(f"{prefix}d", f"{prefix}e", f"{partial} IS NULL")
    return ", ".join([entries_cte(f"{prefix}e", entries), deltas, balance_ctes(f"{prefix}d", prefix)])


def apply_deltas(tx: Tx, postings: Iterable[Posting], arrays: bool = False) -> None:
    with overdraft_guard():
        for sql, params in _delta_statements(postings, arrays):
            tx.execute(sql, params)


def _delta_statements(postings: Iterable[Posting], arrays: bool) -> list[tuple[str, dict[str, object]]]:
    """The statements moving the balances by ``postings``: the rows locked in one
    global order first (when more than one), so that concurrent postings over the same
    accounts (two symbols' settlements, say) cannot deadlock; then the update."""
    deltas: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for p in postings:
        if p.account_id == EXTERNAL_ACCOUNT:
            continue
        deltas[(p.account_id, p.asset)][0 if p.bucket == "free" else 1] += p.amount
    if not deltas:
        return []
    ordered = sorted(deltas.items())
    params: dict[str, object]
    if arrays:  # see post_many
        params = {"a": array_literal(k[0] for k, _ in ordered), "s": array_literal(k[1] for k, _ in ordered),
                  "f": array_literal(v[0] for _, v in ordered), "l": array_literal(v[1] for _, v in ordered)}
        values = ("SELECT * FROM unnest(CAST(:a AS bigint[]), CAST(:s AS text[]), CAST(:f AS numeric[]),"
                  " CAST(:l AS numeric[]))")
    else:
        params = {}
        rows = []
        for i, ((account_id, asset), (dfree, dlocked)) in enumerate(ordered):
            rows.append(f"(CAST(:a{i} AS bigint), :s{i}, CAST(:f{i} AS numeric), CAST(:l{i} AS numeric))")
            params.update({f"a{i}": account_id, f"s{i}": asset, f"f{i}": str(dfree), f"l{i}": str(dlocked)})
        values = "VALUES " + ", ".join(rows)
    out = []
    if len(ordered) > 1:
        out.append(("SELECT 1 FROM balances b JOIN (" + values + ") AS d(account_id, asset, free, locked)"
                    " USING (account_id, asset) ORDER BY account_id, asset FOR UPDATE OF b", params))
    out.append(("WITH d(account_id, asset, free, locked) AS (" + values + "), " + balance_ctes("d")
                + " SELECT 1", params))
    return out


def balances(tx: Tx, account_id: int) -> list[dict]:
    return tx.query(
        "SELECT b.asset, b.free, b.locked, a.precision FROM balances b JOIN assets a USING (asset)"
        " WHERE b.account_id = :a ORDER BY b.asset",
        {"a": account_id},
    )


def totals(tx: Tx) -> dict[str, dict]:
    """Per asset: held (free + locked over all balance holders, fees included) and net
    external flow (deposits - withdrawals), for conservation checks."""
    held = {r["asset"]: r["held"] for r in tx.query(
        "SELECT asset, sum(free + locked) AS held FROM balances GROUP BY asset")}
    external = {r["asset"]: -r["net"] for r in tx.query(
        "SELECT asset, sum(amount) AS net FROM ledger_entries WHERE account_id = :e GROUP BY asset",
        {"e": EXTERNAL_ACCOUNT})}
    return {a: {"held": held.get(a, Decimal(0)), "external_in": external.get(a, Decimal(0))}
            for a in sorted(set(held) | set(external))}
