"""Request parameters: declared once per operation, validated with Binance's codes.

A :class:`Param` says what one parameter may be; :func:`parse` turns the raw
(name -> list of values) of a request into typed values or raises
:class:`~chalicelib.errors.ExchangeError` with the code Binance would send: -1102
mandatory missing/empty, -1105 optional empty, -1100 illegal characters or out of
range, -1101 duplicated or too many, -1104 unknown (unread) parameters, -1121 unknown
symbol, -1120/-1115/-1116/-1117 bad interval/timeInForce/type/side; and
:func:`check_time_window`, the -1127 cap on a history read's ``startTime``..``endTime``
that its operation calls.  Nothing is changed by a request that fails here.  The same
declarations produce the OpenAPI parameter schemas (see ``openapi.py``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.amounts import DECIMAL_PATTERN as DECIMAL_RE  # noqa: F401  (one definition, re-exported to openapi.py)
from chalicelib.errors import ExchangeError, Failure, Reason

MAX_PARAMS = 30
MAX_VALUE_LEN = 1024

SYMBOL_RE = r"^[A-Z0-9-_.]{1,20}$"
CLIENT_ID_RE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


def _illegal(name: str, legal: str) -> ExchangeError:
    return ExchangeError(Failure(Reason.ILLEGAL_CHARS,
                                 f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."))


def mandatory(name: str) -> ExchangeError:
    return ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                 f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))


@dataclass(frozen=True)
class Param:
    """One parameter.  ``kind``: str | int | decimal | enum | bool | symbol | symbols |
    json (the value is checked by ``pattern``/``minimum``/``maximum``/``values``)."""

    name: str
    kind: str = "str"
    required: bool = False
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    values: tuple[str, ...] = ()
    reason: Reason | None = None  # the error for a value outside ``values`` (default -1100)
    description: str = ""
    default: Any = None
    max_len: int = 64

    def parse(self, raw: str):
        if self.kind == "int":
            return _int(self, raw)
        if self.kind == "decimal":
            from chalicelib.amounts import parse_decimal

            return parse_decimal(raw, self.name)
        if self.kind in ("enum", "bool"):
            values = self.values or ("true", "false")
            if raw not in values:
                if self.reason is not None:
                    raise ExchangeError(self.reason)
                raise _illegal(self.name, ", ".join(values))
            return (raw == "true") if self.kind == "bool" else raw
        if self.kind == "symbol":
            return _symbol(self.name, raw)
        if self.kind == "symbols":
            return _symbols(self.name, raw)
        if len(raw) > self.max_len or (self.pattern and not re.match(self.pattern, raw)):
            raise _illegal(self.name, self.pattern or f"length <= {self.max_len}")
        return raw


def _int(p: Param, raw: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,19}", raw):
        raise _illegal(p.name, "^[0-9]{1,20}$")
    value = int(raw)
    lo = p.minimum if p.minimum is not None else 0
    hi = p.maximum if p.maximum is not None else 2**63 - 1
    if not lo <= value <= hi:
        raise _illegal(p.name, f"{lo}, {hi}")
    return value


def _symbol(name: str, raw: str) -> str:
    from chalicelib.symbols import load_catalog

    if not re.match(SYMBOL_RE, raw):
        raise _illegal(name, SYMBOL_RE)
    if load_catalog().symbol(raw) is None:
        raise ExchangeError(Reason.BAD_SYMBOL)
    return raw


def _symbols(name: str, raw: str) -> list[str]:
    try:
        items = json.loads(raw)
    except ValueError:
        items = None
    if not isinstance(items, list) or not items or len(items) > 100 or not all(isinstance(s, str) for s in items):
        raise _illegal(name, '["SYMBOL1","SYMBOL2"] (1 to 100 symbols)')
    if len(set(items)) != len(items):
        raise ExchangeError(Failure(Reason.TOO_MANY_PARAMETERS, "Duplicate symbols found in parameter 'symbols'."))
    return [_symbol(name, s) for s in items]


@dataclass
class Args:
    """The typed values of one request (only declared names; absent ones are None)."""

    values: dict = field(default_factory=dict)

    def __getitem__(self, name: str):
        return self.values.get(name)

    def get(self, name: str, default=None):
        v = self.values.get(name)
        return default if v is None else v

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None


def collect(query: Mapping[str, Sequence[str]] | None,
            form: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """Query-string and body parameters together (Binance reads both)."""
    out: dict[str, list[str]] = {}
    for source in (query or {}, form or {}):
        for k, vs in source.items():
            out.setdefault(k, []).extend(vs)
    return out


def parse(declared: Sequence[Param], raw: Mapping[str, list[str]]) -> Args:
    """Validate ``raw`` against ``declared``; raise ExchangeError on the first problem."""
    if len(raw) > MAX_PARAMS:
        raise ExchangeError(Failure(Reason.TOO_MANY_PARAMETERS,
                                    f"Too many parameters; expected '{len(declared)}' and received '{len(raw)}'."))
    for name, vs in raw.items():
        if len(vs) > 1:
            raise ExchangeError(Failure(Reason.TOO_MANY_PARAMETERS, "Duplicate values for a parameter detected."))
        if len(name) > 64 or any(len(v) > MAX_VALUE_LEN for v in vs):
            raise _illegal(name[:64], f"length <= {MAX_VALUE_LEN}")
    known = {p.name for p in declared}
    unknown = [n for n in raw if n not in known]
    if unknown:
        read = len(raw) - len(unknown)
        raise ExchangeError(Failure(Reason.UNREAD_PARAMETERS,
                                    f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
                                    f"'{len(raw)}'."))
    values = {}
    for p in declared:
        sent = raw.get(p.name)
        value = sent[0] if sent else None
        if value is None or value == "":
            if p.required:
                raise mandatory(p.name)
            if value == "":
                raise ExchangeError(Failure(Reason.PARAM_EMPTY, f"Parameter '{p.name}' was empty."))
            values[p.name] = p.default
            continue
        values[p.name] = p.parse(value)
    return Args(values)


#: Binance's cap on ``endTime - startTime`` of the account history reads (allOrders,
#: myTrades, allOrderList, myAllocations).
HISTORY_WINDOW_HOURS = 24


def check_time_window(start_time: int | None, end_time: int | None, hours: int = HISTORY_WINDOW_HOURS) -> None:
    """Refuse ``startTime`` and ``endTime`` more than ``hours`` apart with Binance's -1127.

    Binance documents "can't be longer than 24 hours" on the account history reads, so a
    window of exactly 24 h passes.  Only one of the two bounds (or none) is not a window
    and passes too: the read then runs from ``startTime`` on or up to ``endTime``."""
    if start_time is not None and end_time is not None and end_time - start_time > hours * 3_600_000:
        raise ExchangeError(Failure(Reason.MORE_THAN_XX_HOURS,
                                    f"More than {hours} hours between startTime and endTime."))


def decimal_places(value: Decimal) -> int:
    """Digits after the point of a finite ``value`` (parse_decimal admits no NaN or infinity)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N', 'F': NaN, sNaN, Infinity
        raise ValueError(f"decimal_places of a non-finite number: {value}")
    return max(0, -exponent)
