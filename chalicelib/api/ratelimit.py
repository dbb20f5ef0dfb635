"""Binance-style rate limits kept in Redis.

REQUEST_WEIGHT per minute per IP, ORDERS per 10 s and per day per account.  Each is a
fixed-window counter (``INCRBY`` + ``EXPIRE`` in one round trip).  Going over a limit
answers 429 with ``Retry-After``; an IP that keeps sending after its 429s is banned
(418) for 2 minutes, doubling with every further ban up to 3 days, as Binance does.
If Redis is unreachable the limits fail open (logged) rather than take the API down.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from chalicelib.errors import ExchangeError, Failure, Reason


@dataclass(frozen=True)
class Limits:
    weight_per_minute: int = 6000
    orders_per_10s: int = 100
    orders_per_day: int = 200000
    strikes_before_ban: int = 10  # requests sent while over the limit, within the minute
    first_ban_s: int = 120
    max_ban_s: int = 3 * 86400


LIMITS = Limits()


def rate_limits_info(limits: Limits | None = None) -> list[dict]:
    """The ``rateLimits`` of exchangeInfo."""
    lim = limits or LIMITS
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": lim.weight_per_minute},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": lim.orders_per_10s},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": lim.orders_per_day},
    ]


class RateLimited(ExchangeError):
    def __init__(self, failure: Failure, headers: dict):
        super().__init__(failure)
        self.headers = headers


def _redis_and_prefix():
    from chalicelib.clients import get_clients

    c = get_clients()
    return c.redis, c.settings.redis_key_prefix


def _fail_open(exc: Exception) -> None:
    from chalicelib.api.observability import logger

    logger.warning("rate limiter unavailable; failing open", extra={"error": repr(exc)[:300]})


def charge_weight(ip: str, weight: int, now: float | None = None) -> dict:
    """Add ``weight`` to the IP's minute; return the usage headers or raise 429/418."""
    now = time.time() if now is None else now
    minute = int(now // 60)
    try:
        r, p = _redis_and_prefix()
        ban_key, wkey, skey = f"{p}rl:ban:{ip}", f"{p}rl:w:{ip}:{minute}", f"{p}rl:s:{ip}:{minute}"
        pipe = r.pipeline(transaction=False)
        pipe.pttl(ban_key)
        pipe.incrby(wkey, weight)
        pipe.expire(wkey, 90)
        banned_ms, used, _ = pipe.execute()
    except RedisError as exc:
        _fail_open(exc)
        return {}
    headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
    if banned_ms and banned_ms > 0:
        until = int(now * 1000) + banned_ms
        raise RateLimited(Failure(Reason.TOO_MANY_REQUESTS_BANNED,
                                  f"Way too much request weight used; IP banned until {until}. "
                                  "Please use WebSocket Streams for live updates to avoid bans."),
                          {**headers, "Retry-After": str(max(1, banned_ms // 1000))})
    if used > LIMITS.weight_per_minute:
        retry = 60 - int(now % 60)
        strikes = r.incr(skey)
        r.expire(skey, 90)
        if strikes > LIMITS.strikes_before_ban:
            bans_key = f"{p}rl:bans:{ip}"
            bans = r.incr(bans_key)
            r.expire(bans_key, LIMITS.max_ban_s)
            ban_s = min(LIMITS.first_ban_s * 2 ** (bans - 1), LIMITS.max_ban_s)
            r.set(ban_key, "1", ex=ban_s)
            raise RateLimited(Failure(Reason.TOO_MANY_REQUESTS_BANNED,
                                      f"Way too much request weight used; IP banned until "
                                      f"{int(now * 1000) + ban_s * 1000}. Please use WebSocket Streams for live "
                                      "updates to avoid bans."),
                              {**headers, "Retry-After": str(ban_s)})
        raise RateLimited(Failure(Reason.TOO_MANY_REQUESTS,
                                  f"Too much request weight used; current limit is {LIMITS.weight_per_minute} "
                                  "request weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                                  "avoid polling the API."),
                          {**headers, "Retry-After": str(retry)})
    return headers


def _order_keys(p: str, account_id: int, now: float) -> tuple[str, str]:
    return f"{p}rl:o10:{account_id}:{int(now // 10)}", f"{p}rl:o1d:{account_id}:{int(now // 86400)}"


def charge_order(account_id: int, now: float | None = None) -> dict:
    """Count one new order for the account; return the headers or raise 429 (-1015)."""
    now = time.time() if now is None else now
    try:
        r, p = _redis_and_prefix()
        k10, kday = _order_keys(p, account_id, now)
        pipe = r.pipeline(transaction=False)
        pipe.incr(k10)
        pipe.expire(k10, 20)
        pipe.incr(kday)
        pipe.expire(kday, 90000)
        n10, _, nday, _ = pipe.execute()
    except RedisError as exc:
        _fail_open(exc)
        return {}
    headers = {"X-MBX-ORDER-COUNT-10S": str(n10), "X-MBX-ORDER-COUNT-1D": str(nday)}
    if n10 > LIMITS.orders_per_10s:
        raise RateLimited(Failure(Reason.TOO_MANY_ORDERS,
                                  f"Too many new orders; current limit is {LIMITS.orders_per_10s} orders per "
                                  "10 SECOND."), {**headers, "Retry-After": str(10 - int(now % 10))})
    if nday > LIMITS.orders_per_day:
        raise RateLimited(Failure(Reason.TOO_MANY_ORDERS,
                                  f"Too many new orders; current limit is {LIMITS.orders_per_day} orders per DAY."),
                          {**headers, "Retry-After": str(86400 - int(now % 86400))})
    return headers


def order_usage(account_id: int, now: float | None = None) -> list[dict]:
    """``GET /v3/rateLimit/order``: the account's current order counts."""
    now = time.time() if now is None else now
    r, p = _redis_and_prefix()
    k10, kday = _order_keys(p, account_id, now)
    n10, nday = r.mget(k10, kday)
    return [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": LIMITS.orders_per_10s,
         "count": int(n10 or 0)},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": LIMITS.orders_per_day,
         "count": int(nday or 0)},
    ]
