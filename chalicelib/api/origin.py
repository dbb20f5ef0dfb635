"""The caller's address, from what the platform guarantees and nothing else.

API Gateway puts the TCP peer of the request into ``requestContext.identity.sourceIp``;
a client cannot set it.  Behind CloudFront that peer is a CloudFront edge, and the
viewer's own address arrives in the ``CloudFront-Viewer-Address`` header -- which any
client can also send when it talks to the API directly.  So that header is believed
only on requests that prove they came through *our* distribution: CloudFront adds
``X-Origin-Verify: <secret>`` (an origin custom header), and the secret is compared in
constant time.  On AWS stages the secret lives in Secrets Manager
(``ORIGIN_VERIFY_SECRET_ARN``; both the current and the previous version are accepted
so that rotation never refuses a request in flight); locally ``ORIGIN_VERIFY_SECRET``
makes the local host a trusted proxy, and when it is unset the header is ignored.

Rate-limit counters, bans and API-key allow-lists all key on :func:`client_ip`.
"""
from __future__ import annotations

import hmac
import ipaddress
import threading
import time

VIEWER_HEADER = "cloudfront-viewer-address"
VERIFY_HEADER = "x-origin-verify"
CACHE_S = 300  # as long as the other secrets (API key master, Redis AUTH) are cached

_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple[str, ...]]] = {}


def _from_secrets_manager(arn: str) -> tuple[str, ...]:
    """AWSCURRENT and AWSPREVIOUS of the secret (the previous one may not exist yet).
    Read through Powertools like the other secrets; each version stage has its own
    provider because Powertools caches by name only."""
    from aws_lambda_powertools.utilities import parameters

    values = [parameters.get_secret(arn, max_age=CACHE_S)]
    try:
        values.append(_previous_provider().get(arn, max_age=CACHE_S, VersionStage="AWSPREVIOUS"))
    except parameters.exceptions.GetParameterError:
        pass  # never rotated: there is no previous version
    return tuple(v if isinstance(v, str) else v.decode() for v in values if v)


_previous = None


def _previous_provider():
    global _previous
    if _previous is None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _previous = SecretsProvider()
    return _previous


def accepted_secrets(settings) -> tuple[str, ...]:
    """The X-Origin-Verify values that prove a request came through our CloudFront
    (or, locally, through the configured proxy); empty: nobody is trusted."""
    if settings.origin_verify_secret_arn:
        arn = settings.origin_verify_secret_arn
        now = time.monotonic()
        hit = _cache.get(arn)
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError  # boto3: only here

        with _lock:
            try:
                values = _from_secrets_manager(arn)
            except GetParameterError as exc:  # Powertools wraps every Secrets Manager failure in it
                if hit is None:
                    raise  # never read: an outage (the request is answered -1001/-1000)
                from chalicelib.api.observability import logger

                logger.warning("origin secret unreadable; keeping the last values", extra={"error": repr(exc)[:300]})
                values = hit[1]  # Secrets Manager unreachable: keep the last values a while
            _cache[arn] = (now, values)
        return values
    if settings.is_local and settings.origin_verify_secret:
        return (settings.origin_verify_secret,)
    return ()


def verified_origin(headers, settings) -> bool:
    """True when ``X-Origin-Verify`` equals an accepted secret (constant time)."""
    sent = headers.get(VERIFY_HEADER)
    if not sent:
        return False
    sent_b = sent.encode("utf-8", "surrogateescape")
    ok = False
    for secret in accepted_secrets(settings):
        ok |= hmac.compare_digest(sent_b, secret.encode())
    return ok


def _viewer_ip(value: str) -> str | None:
    """The address part of ``ip:port`` (IPv6 as CloudFront sends it, with or without
    brackets); None when it is not an address."""
    host = value.strip().rsplit(":", 1)[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def client_ip(request, settings=None) -> str:
    """The caller's address: the platform's source IP, or CloudFront's viewer address
    on requests proven to come through our CloudFront."""
    source = ((request.context or {}).get("identity") or {}).get("sourceIp") or "0.0.0.0"
    return client_address(source, request.headers or {}, settings)


def client_address(source: str, headers, settings=None) -> str:
    """:func:`client_ip` for any server: ``source`` is the TCP peer the platform
    reports (API Gateway's ``sourceIp``; the stream gateway's socket peer, which in
    AWS is our load balancer, reached only through CloudFront); ``headers`` any
    case-insensitive mapping.  ``X-Forwarded-For`` is never read: a client writes
    its first entries, and the one CloudFront appends is an edge address."""
    viewer = headers.get(VIEWER_HEADER)
    if not viewer:
        return source
    if settings is None:
        from chalicelib.clients import get_clients

        settings = get_clients().settings
    if verified_origin(headers, settings):
        return _viewer_ip(viewer) or source
    return source


def reset_cache() -> None:
    _cache.clear()
