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

from chalicelib.errors import ExchangeError, Failure, Reason


def handle(req_id, params: dict, session) -> dict:
    """Log the connection on with the token in ``params`` (blocking: JWKS on a cold
    cache, the account's row; run in a worker thread)."""
    from . import wsapi

    def logon() -> dict:
        from chalicelib.api import auth

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
        return session.status()

    return wsapi.answer(req_id, session, params, wsapi.SESSION_WEIGHT, logon, "ws-api token logon")
