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

from chalicelib.clock import now_ms


def system_status(ctx) -> dict:
    return {"status": 0, "msg": "normal"}


def _no_futures() -> dict:
    """A futures exchangeInfo with no symbols: this exchange lists no futures."""
    return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "exchangeFilters": [],
            "assets": [], "symbols": []}


def no_usdm_futures(ctx) -> dict:
    """``/fapi/v1/exchangeInfo``: no USD-M futures."""
    return _no_futures()


def no_coin_futures(ctx) -> dict:
    """``/dapi/v1/exchangeInfo``: no COIN-M futures."""
    return _no_futures()


def no_coin_config(ctx) -> list:
    """No per-network deposit/withdrawal configuration is published (assets and their
    precision are in /api/v3/exchangeInfo)."""
    return []


def no_cross_margin_pairs(ctx) -> list:
    """No margin trading: no cross margin pairs."""
    return []


def no_isolated_margin_pairs(ctx) -> list:
    """No margin trading: no isolated margin pairs."""
    return []
