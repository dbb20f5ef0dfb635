"""Honest answers to the Binance calls stock clients make that a spot-only exchange
has nothing for.

ccxt's ``binance`` class, with no options, loads USD-M and COIN-M futures markets
(``/fapi/v1/exchangeInfo``, ``/dapi/v1/exchangeInfo``) besides spot, and with an API
key asks ``/sapi/v1/capital/config/getall`` for currencies (and, if configured, the
margin pairs).  Answering those here -- no futures symbols, no margin pairs, no
per-network coin configuration, system status normal -- lets such a client, with every
URL pointed at this host, load markets without ever reaching the real Binance.
"""
from __future__ import annotations

import time


def system_status(ctx) -> dict:
    return {"status": 0, "msg": "normal"}


def no_futures(ctx) -> dict:
    """A futures exchangeInfo with no symbols: this exchange lists no futures."""
    return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [], "exchangeFilters": [],
            "assets": [], "symbols": []}


def no_coin_config(ctx) -> list:
    """No per-network deposit/withdrawal configuration is published (assets and their
    precision are in /api/v3/exchangeInfo)."""
    return []


def no_margin_pairs(ctx) -> list:
    """No margin trading: no cross or isolated margin pairs."""
    return []
