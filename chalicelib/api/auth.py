"""Who is calling: API key + HMAC-SHA256 (bots) or a Cognito JWT (the web app).

The principal is decided here and nowhere else:

* :func:`authorize_token` is the Chalice authorizer's body (``app.py``): it verifies a
  Cognito ID/access token against the pool's JWKS (fetched once and cached), and
  :func:`web_principal` turns the authorizer's context into an account.
* :func:`authenticate` is called by dispatch for every non-public operation: for the
  web operations it uses the authorizer's result; for the Binance operations it checks
  ``X-MBX-APIKEY``, ``timestamp``/``recvWindow`` and the HMAC ``signature`` over the
  query string + body exactly as Binance does (-2014, -2015, -1021, -1022, -1131), or
  accepts ``Authorization: Bearer <Cognito token>`` from the web app.

A TRADE request's signature can be used once: an identical replay inside its recvWindow
is refused with -1022, so a captured order or withdrawal cannot be sent again.  Signed
reads are not refused (Binance refuses neither): a repeated read changes nothing, and
async clients such as ccxt send identical reads within the same millisecond.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

from chalicelib import clock
from chalicelib.api import ops as O
from chalicelib.api.params import mandatory
from chalicelib.errors import ExchangeError, Failure, Reason

RAW_QUERY_HEADER = "x-exchange-raw-query"  # set by devstack/web.py (API Gateway loses the raw string)
API_KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
KEY_CACHE_S = 300
MAX_RECV_WINDOW = 60000


@dataclass(frozen=True)
class Principal:
    account_id: int
    via: str  # "apikey" | "jwt"
    can_read: bool = True
    can_trade: bool = True
    api_key: str | None = None
    sub: str | None = None
    groups: tuple[str, ...] = ()


def _clients():
    from chalicelib.clients import get_clients

    return get_clients()


def _unauthorized(detail: str | None = None) -> ExchangeError:
    return ExchangeError(Failure(Reason.UNAUTHORIZED, detail))


# -- API keys -------------------------------------------------------------------------
def _key_cache_key(prefix: str, api_key: str) -> str:
    return f"{prefix}apikey:{hashlib.sha256(api_key.encode()).hexdigest()}"


def load_key(api_key: str) -> dict | None:
    """The key's record (cached in Redis; :func:`forget_key` on revoke), or None."""
    c = _clients()
    r, p = c.redis, c.settings.redis_key_prefix
    ck = _key_cache_key(p, api_key)
    cached = r.get(ck)
    if cached:
        rec = json.loads(cached)
        return rec or None
    from chalicelib import accounts, apikeys
    from chalicelib.db import autocommit

    tx = autocommit(c)  # two reads, no transaction needed: one Data API call each
    found = apikeys.get_key(tx, api_key)
    acct = accounts.get_account(tx, found[0].account_id) if found else None
    rec = {}
    if found:
        key, secret_hash = found
        rec = {"account_id": key.account_id, "can_read": key.can_read,
               "can_trade": key.can_trade and bool(acct and acct.can_trade),
               "ips": list(key.ip_allowlist), "revoked": key.revoked, "secret_hash": secret_hash}
    r.set(ck, json.dumps(rec), ex=KEY_CACHE_S if rec else 10)
    return rec or None


def forget_key(api_key: str) -> None:
    c = _clients()
    c.redis.delete(_key_cache_key(c.settings.redis_key_prefix, api_key))


_secrets: dict[str, str] = {}


def _secret_for(api_key: str, secret_hash: str) -> str:
    secret = _secrets.get(api_key)
    if secret is None:
        from chalicelib import apikeys

        secret = apikeys.derive_secret(apikeys.master_key(_clients().settings), api_key)
        if not hmac.compare_digest(apikeys.secret_hash(secret), secret_hash):
            raise ExchangeError(Reason.REJECTED_MBX_KEY)
        if len(_secrets) > 10000:
            _secrets.clear()
        _secrets[api_key] = secret
    return secret


def _ip_allowed(ips: list[str], ip: str) -> bool:
    if not ips:
        return True
    from chalicelib.apikeys import ApiKey

    return ApiKey("", 0, "", True, False, tuple(ips), False).allows_ip(ip)


def _without_signature(text: str) -> str:
    return "&".join(part for part in text.split("&") if not part.startswith("signature="))


def signed_payloads(request, qp: dict[str, list[str]], body_text: str) -> list[str]:
    """The candidate texts the client may have signed: the raw query string (when the
    front door passed it on) or the query rebuilt in received order, plus the body."""
    body = _without_signature(body_text) if "signature=" in body_text else body_text
    raw = request.headers.get(RAW_QUERY_HEADER)
    if raw is not None:
        parsed: dict[str, list[str]] = {}
        for k, v in parse_qsl(raw, keep_blank_values=True):
            parsed.setdefault(k, []).append(v)
        if parsed != qp:
            raise ExchangeError(Failure(Reason.INVALID_SIGNATURE,
                                        "Signature for this request is not valid (query string mismatch)."))
        return [_without_signature(raw) + body]
    pairs = [(k, v) for k, vs in qp.items() if k != "signature" for v in vs]
    out = []
    for q in (quote_plus, quote):
        for safe in ("", "@:,/[]\"", "~"):
            text = urlencode(pairs, quote_via=q, safe=safe) + body
            if text not in out:
                out.append(text)
    return out


def verify_signature(secret: str, payloads: list[str], signature: str) -> bool:
    sig = signature.lower()
    key = secret.encode()
    return any(hmac.compare_digest(hmac.new(key, p.encode(), hashlib.sha256).hexdigest(), sig) for p in payloads)


def check_timestamp(timestamp: int | None, recv_window: int | None, now: int | None = None) -> int:
    """Binance's rule: accept if ``timestamp < now + 1000`` and ``now - timestamp <=
    recvWindow``.  Returns the recvWindow used."""
    if timestamp is None:
        raise mandatory("timestamp")
    window = 5000 if recv_window is None else recv_window
    if window > MAX_RECV_WINDOW:
        raise ExchangeError(Failure(Reason.BAD_RECV_WINDOW, "recvWindow must be less than 60000"))
    now = clock.now_ms() if now is None else now
    if timestamp >= now + 1000:
        raise ExchangeError(Failure(Reason.INVALID_TIMESTAMP,
                                    "Timestamp for this request was 1000ms ahead of the server's time."))
    if now - timestamp > window:
        raise ExchangeError(Reason.INVALID_TIMESTAMP)
    return window


def _api_key_principal(ctx, qp, body_text) -> Principal:
    api_key = ctx.request.headers.get("x-mbx-apikey")
    if not api_key or not API_KEY_RE.match(api_key):
        raise ExchangeError(Reason.BAD_API_KEY_FMT)
    signed = ctx.op.security in O.SIGNED
    window = check_timestamp(ctx.args["timestamp"], ctx.args["recvWindow"]) if signed else 0
    if signed and not ctx.args["signature"]:
        raise mandatory("signature")
    rec = load_key(api_key)
    if rec is None or rec["revoked"] or not _ip_allowed(rec["ips"], ctx.ip):
        raise ExchangeError(Reason.REJECTED_MBX_KEY)
    if (ctx.op.security == O.TRADE and not rec["can_trade"]) or not rec["can_read"]:
        raise ExchangeError(Reason.REJECTED_MBX_KEY)
    if signed:
        secret = _secret_for(api_key, rec["secret_hash"])
        if not verify_signature(secret, signed_payloads(ctx.request, qp, body_text), ctx.args["signature"]):
            raise ExchangeError(Reason.INVALID_SIGNATURE)
    if signed and ctx.op.security == O.TRADE:
        c = _clients()
        fresh = c.redis.set(f"{c.settings.redis_key_prefix}sig:{ctx.args['signature'].lower()}", "1", nx=True,
                            px=window + 2000)
        if not fresh:
            raise ExchangeError(Failure(Reason.INVALID_SIGNATURE, "Signature for this request was already used."))
    return Principal(rec["account_id"], "apikey", rec["can_read"], rec["can_trade"], api_key=api_key)


def authenticate(ctx, qp: dict[str, list[str]], bp: dict[str, list[str]], body_text: str) -> Principal:
    sec = ctx.op.security
    if sec in (O.WEB, O.ADMIN):
        principal = web_principal(ctx.request)
        if sec == O.ADMIN:
            from chalicelib.admin import ADMIN_GROUP, is_admin

            # both the token's group and the account's role in Aurora (the system of record)
            if ADMIN_GROUP not in principal.groups or not is_admin(principal.account_id):
                raise ExchangeError(Reason.FORBIDDEN)
        return principal
    bearer = ctx.request.headers.get("authorization") or ""
    if sec in O.SIGNED and bearer[:7].lower() == "bearer " and not ctx.request.headers.get("x-mbx-apikey"):
        principal = principal_from_claims(verify_token(bearer[7:].strip()))
        if sec == O.TRADE and not principal.can_trade:
            raise ExchangeError(Reason.REJECTED_MBX_KEY)
        return principal
    return _api_key_principal(ctx, qp, body_text)


# -- Cognito JWTs ---------------------------------------------------------------------
def issuer(settings=None) -> str:
    s = settings or _clients().settings
    return f"https://cognito-idp.{s.region}.amazonaws.com/{s.cognito_user_pool_id}"


def jwks_url(settings=None) -> str:
    """Real Cognito serves the keys under the issuer; the local stand-in (moto) under
    its own endpoint, at the same path."""
    s = settings or _clients().settings
    if s.aws_endpoint_url:
        return f"{s.aws_endpoint_url.rstrip('/')}/{s.cognito_user_pool_id}/.well-known/jwks.json"
    return f"{issuer(s)}/.well-known/jwks.json"


class _Jwks:
    """The pool's key set, fetched on first use, refreshed hourly or on an unknown
    ``kid`` (at most every 30 s)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[object, set, float]] = {}

    def get(self, url: str, kid: str | None):
        now = time.monotonic()
        entry = self._sets.get(url)
        if entry is None or now - entry[2] > 3600 or (kid not in entry[1] and now - entry[2] > 30):  # stale
            with self._lock:
                entry = self._sets.get(url)
                if entry is None or now - entry[2] > 30:
                    entry = self._fetch(url)
                    self._sets[url] = entry
        return entry[0]

    @staticmethod
    def _fetch(url: str):
        import urllib.request

        from joserfc.jwk import KeySet

        with urllib.request.urlopen(url, timeout=3) as resp:
            doc = json.loads(resp.read())
        keyset = KeySet.import_key_set(doc)
        return keyset, {k.get("kid") for k in doc.get("keys", [])}, time.monotonic()

    def clear(self) -> None:
        self._sets.clear()


JWKS = _Jwks()


def verify_token(token: str, now: float | None = None) -> dict:
    """The claims of a valid Cognito ID or access token of our pool and app client;
    raises -1002 otherwise (bad signature, other pool, other client, expired)."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    s = _clients().settings
    if not s.cognito_user_pool_id or not token or len(token) > 8192 or token.count(".") != 2:
        raise _unauthorized("Invalid or missing token.")
    try:
        import base64

        head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        keyset = JWKS.get(jwks_url(s), head.get("kid") if isinstance(head, dict) else None)
        claims = jwt.decode(token, keyset, algorithms=["RS256"]).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise _unauthorized("Invalid token.") from None
    now = time.time() if now is None else now
    use = claims.get("token_use")
    client = claims.get("client_id") if use == "access" else claims.get("aud")
    if (claims.get("iss") != issuer(s) or use not in ("access", "id") or client != s.cognito_client_id
            or not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now
            or not claims.get("sub")):
        raise _unauthorized("Invalid or expired token.")
    return claims


def authorize_token(token: str | None) -> dict | None:
    """The Chalice authorizer's decision: the authorizer context for a valid token
    (strings only, as API Gateway passes them), else None."""
    if not token:
        return None
    token = token[7:].strip() if token[:7].lower() == "bearer " else token.strip()
    try:
        claims = verify_token(token)
    except ExchangeError:
        return None
    groups = claims.get("cognito:groups") or []
    return {"sub": claims["sub"], "email": claims.get("email") or "",
            "username": claims.get("username") or claims.get("cognito:username") or "",
            "groups": ",".join(g for g in groups if isinstance(g, str)), "tokenUse": claims["token_use"]}


_accounts_by_sub: dict[str, int] = {}


def account_for(sub: str, email: str = "", username: str = "") -> int:
    """The account of a Cognito user, created on first sign-in (self sign-up)."""
    account_id = _accounts_by_sub.get(sub)
    if account_id is not None:
        return account_id
    from chalicelib import accounts
    from chalicelib.db import transaction

    c = _clients()
    with transaction(c) as tx:
        acct = accounts.find_account(tx, cognito_sub=sub)
        if acct is None:
            if not email:
                attrs = c.cognito.admin_get_user(UserPoolId=c.settings.cognito_user_pool_id,
                                                 Username=username or sub)["UserAttributes"]
                email = next((a["Value"] for a in attrs if a["Name"] == "email"), "")
            if not email:
                raise _unauthorized("The user has no email address.")
            acct = accounts.ensure_account(tx, email.lower(), email=email.lower(), cognito_sub=sub)
            if acct.cognito_sub != sub:
                raise _unauthorized("The account belongs to another sign-in.")
    _accounts_by_sub[sub] = acct.account_id
    return acct.account_id


def principal_from_claims(claims: dict) -> Principal:
    groups = tuple(g for g in (claims.get("cognito:groups") or []) if isinstance(g, str))
    account_id = account_for(claims["sub"], claims.get("email") or "",
                             claims.get("username") or claims.get("cognito:username") or "")
    return Principal(account_id, "jwt", True, True, sub=claims["sub"], groups=groups)


def web_principal(request) -> Principal:
    """The signed-in user of a route behind the Cognito authorizer."""
    ctx = (request.context or {}).get("authorizer") or {}
    sub = ctx.get("sub") or ctx.get("principalId")
    if not sub:
        raise _unauthorized()
    groups = tuple(g for g in (ctx.get("groups") or "").split(",") if g)
    return Principal(account_for(sub, ctx.get("email") or "", ctx.get("username") or ""), "jwt", True, True,
                     sub=sub, groups=groups)
