"""``session.logon`` with a Cognito token: how the web app gets onto the WebSocket API.

Not Binance's: Binance logs a connection on with an API key and a signature.  The web
app signs in with Cognito and holds no API key, so it sends the access (or ID) token it
already sends to the REST API as ``Authorization: Bearer``::

    {"id": 1, "method": "session.logon", "params": {"token": "<JWT>"}}

The token is checked by the REST API's own code, :func:`chalicelib.api.auth.verify_token`
(signature against the pool's JWKS, issuer, app client, ``token_use``, expiry), and the
account is the one :func:`chalicelib.api.auth.principal_from_claims` gives the REST API
for it (by the token's ``sub``): nothing the client says about who it is counts.  The
answer is ``session.status`` (``apiKey`` null); a bad token is -1002.

The session lasts as long as the token: after its ``exp`` a request on the session is
refused with -1002 (and the session is logged out), and a ``userDataStream.subscribe``
made on it ends with ``eventStreamTerminated`` (:class:`gateway.userdata.UserConn`).
Logging on again with a fresh token of the same user before then keeps the
subscription; the web app does so whenever it refreshes its tokens.
"""
from __future__ import annotations

import logging

from chalicelib.errors import ExchangeError, Failure, Reason

logger = logging.getLogger("gateway")


def handle(req_id, params: dict, session) -> dict:
    """Log the connection on with the token in ``params`` (blocking: JWKS on a cold
    cache, the account's row; run in a worker thread)."""
    from chalicelib.api import auth, ratelimit

    from . import wsapi

    show_limits = params.pop("returnRateLimits", session.return_rate_limits) not in (False, "false")
    used = None
    try:
        try:
            used = ratelimit.charge_weight(session.ip, wsapi.SESSION_WEIGHT).get("X-MBX-USED-WEIGHT-1M")
        except ExchangeError as exc:
            used = (getattr(exc, "headers", None) or {}).get("X-MBX-USED-WEIGHT-1M")
            raise
        token = params.pop("token")
        extra = sorted(params)
        if extra:  # an API key's parameters beside a token: one way of logging on at a time
            raise ExchangeError(Failure(Reason.PARAM_NOT_REQUIRED,
                                        f"Parameter '{extra[0][:64]}' sent when not required."))
        if not isinstance(token, str) or not token:
            raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                        "Parameter 'token' was empty or malformed."))
        claims = auth.verify_token(token)
        principal = auth.principal_from_claims(claims)
        until = float(claims["exp"])
        session.logon(principal, None, until)
        if session.userdata is not None:
            session.userdata.extend(int(principal.account_id), until)
        return wsapi._reply(req_id, 200, result=session.status(),
                            rate_limits=wsapi._rate_limits(used) if show_limits else None)
    except ExchangeError as exc:
        return wsapi._reply(req_id, exc.failure.http_status, error=exc.failure.body(),
                            rate_limits=wsapi._rate_limits(used) if show_limits else None)
    except Exception as exc:  # outages and bugs: -1001 / -1000, no traceback to the client
        from chalicelib.api.http import _is_outage

        f = Failure(Reason.DISCONNECTED) if _is_outage(exc) else Failure(Reason.UNKNOWN)
        if f.reason is Reason.UNKNOWN:
            logger.exception("ws-api token logon failed")
        return wsapi._reply(req_id, f.http_status, error=f.body())
