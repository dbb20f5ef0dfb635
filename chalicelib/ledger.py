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
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Sequence

from chalicelib.db import Tx
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
    return LedgerTxn(txn_key, kind, (Posting(src[0], asset, src[1], -amount), Posting(dst[0], asset, dst[1], amount)), ref)


def post(tx: Tx, txn: LedgerTxn) -> bool:
    """Apply one ledger transaction; False if it had been applied before."""
    return txn.txn_key in post_many(tx, [txn])


def post_many(tx: Tx, txns: Sequence[LedgerTxn]) -> set[str]:
    """Apply many ledger transactions in two statements; return the txn_keys applied
    now (the others had been applied before and change nothing).  Raises
    ExchangeError(INSUFFICIENT_BALANCE) if any balance would go negative — the caller's
    transaction must then roll back."""
    if not txns:
        return set()
    for t in txns:
        t.check()
    params: dict = {}
    rows = []
    i = 0
    for t in txns:
        for p in t.postings:
            rows.append(f"(:k{i}, :a{i}, :s{i}, :b{i}, CAST(:m{i} AS numeric), :t{i}, :r{i})")
            params.update({f"k{i}": t.txn_key, f"a{i}": p.account_id, f"s{i}": p.asset, f"b{i}": p.bucket,
                           f"m{i}": str(p.amount), f"t{i}": t.kind, f"r{i}": t.ref})
            i += 1
    inserted = tx.execute(
        "INSERT INTO ledger_entries (txn_key, account_id, asset, bucket, amount, kind, ref) VALUES "
        + ", ".join(rows)
        + " ON CONFLICT (txn_key, account_id, asset, bucket) DO NOTHING RETURNING txn_key",
        params,
    )
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
    apply_deltas(tx, (p for t in txns if t.txn_key in applied for p in t.postings))
    return applied


def apply_deltas(tx: Tx, postings: Iterable[Posting]) -> None:
    deltas: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for p in postings:
        if p.account_id == EXTERNAL_ACCOUNT:
            continue
        deltas[(p.account_id, p.asset)][0 if p.bucket == "free" else 1] += p.amount
    if not deltas:
        return
    params: dict = {}
    rows = []
    for i, ((account_id, asset), (dfree, dlocked)) in enumerate(sorted(deltas.items())):
        rows.append(f"(CAST(:a{i} AS bigint), :s{i}, CAST(:f{i} AS numeric), CAST(:l{i} AS numeric))")
        params.update({f"a{i}": account_id, f"s{i}": asset, f"f{i}": str(dfree), f"l{i}": str(dlocked)})
    values = ", ".join(rows)
    try:
        if len(rows) > 1:
            # lock the rows in one global order first, so that concurrent postings over
            # the same accounts (two symbols' settlements, say) cannot deadlock
            tx.execute("SELECT 1 FROM balances b JOIN (VALUES " + values + ") AS d(account_id, asset, free, locked)"
                       " USING (account_id, asset) ORDER BY account_id, asset FOR UPDATE OF b", params)
        # Existing rows are updated in place; missing ones inserted.  (An INSERT ... ON
        # CONFLICT alone would check the CHECK constraint against the bare delta.)
        tx.execute(
            "WITH d(account_id, asset, free, locked) AS (VALUES " + values + "),"
            " upd AS (UPDATE balances b SET free = b.free + d.free, locked = b.locked + d.locked,"
            " updated_at = now() FROM d WHERE b.account_id = d.account_id AND b.asset = d.asset"
            " RETURNING b.account_id, b.asset)"
            " INSERT INTO balances AS b (account_id, asset, free, locked)"
            " SELECT d.account_id, d.asset, d.free, d.locked FROM d"
            " WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.account_id = d.account_id AND upd.asset = d.asset)"
            " ON CONFLICT (account_id, asset) DO UPDATE SET free = b.free + excluded.free,"
            " locked = b.locked + excluded.locked, updated_at = now()",
            params,
        )
    except Exception as exc:  # the CHECK constraint is the guard against overdraft
        if "balance_not_negative" in str(exc):
            raise ExchangeError(Reason.INSUFFICIENT_BALANCE) from None
        raise


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
