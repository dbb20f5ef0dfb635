"""Conservation after a randomized run of thousands of orders from many accounts:
for every asset free + locked + fees == deposits - withdrawals, every order's
executed quantity is the sum of its fills, nothing is left pending -- order lists
(OCO, OTO) included, whose legs share one reservation."""
from __future__ import annotations

from load import run_load
from pipeline_support import assert_invariants, cancel_all, make_accounts, pending_count, wait_until


def test_randomized_run_conserves_money(pipeline_env, matcher_thread, migrated_db):
    accounts = make_accounts(16, {"USDT": "2000000", "BTC": "50", "ETH": "500"})
    stats = run_load(accounts, 2000, threads=4, seed=7, lists=0.06)  # OCOs and OTOs among them
    assert stats["placed"] > 1500 and stats["lists"] > 60, stats
    wait_until(lambda: pending_count(migrated_db) == 0, 120, "every intent sequenced and acknowledged")
    figures = assert_invariants(migrated_db)
    assert figures["trades"] > 300, figures
    assert matcher_thread.stats.pg_transactions < matcher_thread.stats.intents  # batching
    cancel_all(accounts)
    assert_invariants(migrated_db)  # releases balance too: nothing stays locked
