"""The OpenAPI 3 document of the API, generated from the operation table (``ops``),
so that every route, parameter and response schema it states is what the code does.
Served at ``/api/openapi.json``; ``tests/api/test_openapi.py`` checks it against the
Chalice routes and schemathesis checks the running API against it."""
from __future__ import annotations

from chalicelib.api import ops as O
from chalicelib.api.params import DECIMAL_RE, SYMBOL_RE, Param

ERROR = {"type": "object", "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
         "required": ["code", "msg"]}
GATEWAY_ERROR = {"type": "object", "description": "API Gateway's own refusal (authorizer, unknown route)",
                 "properties": {"message": {"type": "string"}, "Message": {"type": "string"}}}

_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    O.NONE: [],
    O.MARKET_DATA: [{"ApiKey": []}],
    O.USER_DATA: [{"ApiKey": [], "Signature": []}, {"CognitoBearer": []}],
    O.TRADE: [{"ApiKey": [], "Signature": []}, {"CognitoBearer": []}],
    O.WEB: [{"CognitoBearer": []}],
    O.ADMIN: [{"CognitoBearer": []}],
}


def param_schema(p: Param, in_json: bool = False) -> dict:
    if p.kind == "int":
        s = {"type": "integer", "minimum": p.minimum if p.minimum is not None else 0}
        if p.maximum is not None:
            s["maximum"] = p.maximum
        return s
    if p.kind == "decimal":
        return {"type": "string", "pattern": DECIMAL_RE}
    if p.kind == "enum":
        return {"type": "string", "enum": list(p.values)}
    if p.kind == "bool":
        return {"type": "boolean"} if in_json else {"type": "string", "enum": ["true", "false"]}
    if p.kind == "symbol":
        return {"type": "string", "pattern": SYMBOL_RE}
    if p.kind == "symbols":
        return {"type": "string", "description": 'JSON array of symbols, e.g. ["BTCUSDT","ETHUSDT"]'}
    s = {"type": "string", "maxLength": p.max_len}
    if p.pattern:
        s["pattern"] = p.pattern
    return s


def _path_params(path: str) -> list[dict]:
    import re

    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
            for n in re.findall(r"{(\w+)}", path)]


def operation(op: O.Op) -> dict:
    d: dict = {"operationId": op.id, "summary": op.summary, "tags": [op.tag],
               "security": _SECURITY[op.security]}
    weight = op.weight if isinstance(op.weight, int) else "depends on the parameters"
    d["description"] = f"Security: {op.security}. Request weight: {weight}." + (
        " Counts against the ORDERS limits." if op.orders else "")
    params = _path_params(op.path)
    if op.body == "json":
        if op.params:
            d["requestBody"] = {"required": any(p.required for p in op.params), "content": {"application/json": {
                "schema": {"type": "object", "additionalProperties": False,
                           "properties": {p.name: {**param_schema(p, True), "description": p.description}
                                          if p.description else param_schema(p, True) for p in op.params},
                           "required": [p.name for p in op.params if p.required]}}}}
    else:
        for p in op.params:
            q = {"name": p.name, "in": "query", "required": p.required, "schema": param_schema(p)}
            if p.description:
                q["description"] = p.description
            params.append(q)
    if params:
        d["parameters"] = params
    headers = {"X-MBX-USED-WEIGHT-1M": {"schema": {"type": "string"}, "description": "request weight used this minute"}}
    if op.orders:
        headers["X-MBX-ORDER-COUNT-10S"] = {"schema": {"type": "string"}}
        headers["X-MBX-ORDER-COUNT-1D"] = {"schema": {"type": "string"}}
    d["responses"] = {
        "200": {"description": "OK", "headers": headers,
                "content": {"application/json": {"schema": op.response or {"type": "object"}}}},
        "default": {"description": "Binance-style error (400 bad request, 401 auth, 403 forbidden, 418 banned, "
                                   "429 rate limited, 5xx outage)",
                    "content": {"application/json": {"schema": {"anyOf": [ERROR, GATEWAY_ERROR]}}}},
    }
    return d


def document() -> dict:
    paths: dict = {}
    for op in O.OPS:
        paths.setdefault(op.path, {})[op.method.lower()] = operation(op)
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document", "tags": ["Meta"],
                                      "security": [], "responses": {"200": {
                                          "description": "OpenAPI 3 document",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Exchange API", "version": "1.0.0",
                 "description": "A Binance-compatible spot exchange API. Signed endpoints take X-MBX-APIKEY, "
                                "timestamp, recvWindow and an HMAC-SHA256 signature over the query string + body; "
                                "the web app may send a Cognito token as Authorization: Bearer instead."},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {"securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"},
            "Signature": {"type": "apiKey", "in": "query", "name": "signature",
                          "description": "HMAC-SHA256 (hex) of the query string + body with the key's secret"},
            "CognitoBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        }},
    }
