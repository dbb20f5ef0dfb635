"""Parsing amounts from text without ever passing through float.

Every quantity, price and balance enters the system as a string (HTTP parameter, CLI
argument, JSON field) and becomes a ``Decimal`` here, or a Binance-style error value.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from chalicelib.errors import ExchangeError, Failure, Reason

# Binance's published pattern for every decimal parameter, and nothing looser: no sign,
# no exponent, no surrounding blanks, no leading or trailing dot, ASCII digits only.
DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL = re.compile(r"([0-9]{1,20})(\.[0-9]{1,20})?", re.ASCII)


def _illegal(name: str) -> ExchangeError:
    return ExchangeError(Failure(Reason.ILLEGAL_CHARS,
                                 f"Illegal characters found in parameter '{name}'; "
                                 f"legal range is '{DECIMAL_PATTERN}'."))


def parse_decimal(raw, name: str) -> Decimal:
    """A non-negative decimal from text; raises ExchangeError(-1100/-1102) naming the
    parameter on anything else (NaN, infinity, exponents, signs, floats)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        raise ExchangeError(Failure(Reason.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
    if isinstance(raw, bool) or isinstance(raw, float):
        raise _illegal(name)
    text = str(raw)
    if not _DECIMAL.fullmatch(text):  # fullmatch: "$" alone would let a trailing newline through
        raise _illegal(name)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid text
        raise ExchangeError(Failure(Reason.ILLEGAL_CHARS, f"Illegal characters found in parameter '{name}'.")) from None


def check_precision(value: Decimal, precision: int, name: str) -> Decimal:
    """``value`` unchanged if it has at most ``precision`` decimals, else -1111."""
    if value != value.quantize(Decimal(1).scaleb(-precision), rounding="ROUND_DOWN"):
        raise ExchangeError(Failure(Reason.BAD_PRECISION,
                                    f"Precision is over the maximum defined for this asset (parameter '{name}')."))
    return value


def fmt(value, decimals: int = 8) -> str:
    """Binance prints amounts as fixed-point strings with the asset's decimals; the one
    formatter for the API, market data and the CLI (None prints as zero)."""
    if value.__class__ is Decimal:  # the hot cases (reports, market data): no copy
        return f"{value:.8f}" if decimals == 8 else f"{value:.{decimals}f}"
    return f"{Decimal(0 if value is None else value):.{decimals}f}"
