"""Binance-shaped bodies for the errors the gateway itself answers, in one place.

A request can be refused before any of our code runs: an unknown path or method, an
oversized request, a failed authorizer, a WAF block.  API Gateway answers those with
its own bodies (``{"message": "Missing Authentication Token"}``) unless the REST API
declares *gateway responses*.  This table is the one definition of them: ``infra/``
builds the ``AWS::ApiGateway::GatewayResponse`` resources from it and the local host
(``devstack/web.py``) answers the same cases with the same status and body, so a
client sees one dialect wherever it connects.

Keys are API Gateway gateway-response types; values are (HTTP status, Binance code,
message).  Binance documents no code for an unknown endpoint or an oversized request;
the closest documented ones are used: -1020 UNSUPPORTED_OPERATION ("This operation is
not supported.") for a path or method that does not exist, -1101
TOO_MANY_PARAMETERS for a request too large to read, -1002 UNAUTHORIZED (401, or 403
when a WAF rule or a policy refuses: Binance's use of 403) for authorizer failures.
"""
from __future__ import annotations

GATEWAY_RESPONSES: dict[str, tuple[int, int, str]] = {
    # an unknown path (API Gateway REST calls it a missing token) or method
    "MISSING_AUTHENTICATION_TOKEN": (404, -1020, "This operation is not supported."),
    "RESOURCE_NOT_FOUND": (404, -1020, "This operation is not supported."),
    "UNSUPPORTED_MEDIA_TYPE": (415, -1020, "This operation is not supported."),
    "REQUEST_TOO_LARGE": (413, -1101, "Request too large."),
    "ACCESS_DENIED": (403, -1002, "You are not authorized to execute this request."),
    "UNAUTHORIZED": (401, -1002, "You are not authorized to execute this request."),
    "EXPIRED_TOKEN": (401, -1002, "You are not authorized to execute this request."),
    "INVALID_SIGNATURE": (401, -1002, "You are not authorized to execute this request."),
    "AUTHORIZER_FAILURE": (500, -1000, "An unknown error occurred while processing the request."),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, -1000, "An unknown error occurred while processing the request."),
    "WAF_FILTERED": (403, -1002, "You are not authorized to execute this request."),
    "THROTTLED": (429, -1003, "Too many requests; please use the websocket for live updates."),
    "QUOTA_EXCEEDED": (429, -1003, "Too many requests; please use the websocket for live updates."),
    "INTEGRATION_TIMEOUT": (503, -1007,
                            "Timeout waiting for response from backend server. "
                            "Send status unknown; execution status unknown."),
    "INTEGRATION_FAILURE": (500, -1000, "An unknown error occurred while processing the request."),
    "DEFAULT_4XX": (400, -1000, "An unknown error occurred while processing the request."),
    "DEFAULT_5XX": (500, -1000, "An unknown error occurred while processing the request."),
}


def body(response_type: str) -> dict:
    """The ``{"code", "msg"}`` body for one gateway response type."""
    _, code, msg = GATEWAY_RESPONSES[response_type]
    return {"code": code, "msg": msg}
