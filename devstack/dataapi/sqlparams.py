"""Named ``:name`` placeholders and typed Data API parameters -> psycopg.

The Data API takes SQL with ``:name`` placeholders and a list of typed values.  We
turn the placeholders into PostgreSQL's native ``$n`` ones (sent with a psycopg
``RawCursor``, so a literal ``%`` in SQL needs no escaping) and each value into a
Python object whose psycopg dumper sends the PostgreSQL type the real service's JDBC
driver would send.  That matters for fidelity: a plain ``stringValue`` arrives as
``varchar``, so writing it into a ``uuid``/``jsonb`` column fails here exactly as on
AWS, and code that passes locally is not surprised in production.
"""
from __future__ import annotations

import base64
import re

from psycopg.adapt import Dumper
from psycopg.postgres import types as builtin_types
from psycopg.types.numeric import Int8

from chalicelib.sqlparams import CompiledSql, compile_named  # noqa: F401 - one tokenizer, re-exported

from .errors import BadRequest

# --- typed values -------------------------------------------------------------------


class TypedText(str):
    """A string sent with an explicit PostgreSQL type (text format)."""

    pg_type = "varchar"


class Varchar(TypedText):
    pg_type = "varchar"


class Numeric(TypedText):
    pg_type = "numeric"


class Timestamp(TypedText):
    pg_type = "timestamp"


class Date(TypedText):
    pg_type = "date"


class Time(TypedText):
    pg_type = "time"


class Uuid(TypedText):
    pg_type = "uuid"


class Json(TypedText):
    """Sent as ``unknown`` so PostgreSQL casts it to ``json`` or ``jsonb`` as the
    target needs (there is no implicit json -> jsonb cast)."""

    pg_type = "unknown"


def _dumper_for(cls: type[TypedText]) -> type[Dumper]:
    oid = 0 if cls.pg_type == "unknown" else builtin_types[cls.pg_type].oid

    class _TypedDumper(Dumper):
        def dump(self, obj: str) -> bytes:
            return obj.encode()

    _TypedDumper.oid = oid
    _TypedDumper.__name__ = f"{cls.__name__}Dumper"
    return _TypedDumper


TYPED_CLASSES = (Varchar, Numeric, Timestamp, Date, Time, Uuid, Json)


def register_dumpers(adapters) -> None:
    """Teach a psycopg adapters map to send our typed strings with their types."""
    for cls in TYPED_CLASSES:
        adapters.register_dumper(cls, _dumper_for(cls))


# The formats the service documents for each hint; anything else is rejected the way
# the real service rejects it, so e.g. a timestamp with a zone offset (which a
# ``timestamp`` would silently drop) fails loudly here too.
_HINT_FORMATS = {
    "TIMESTAMP": (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?"),
                  "Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]"),
    "DATE": (re.compile(r"\d{4}-\d{2}-\d{2}"), "Date format must be yyyy-mm-dd"),
    "TIME": (re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,9})?"), "Time format must be hh:mm:ss[.fffffffff]"),
}
_HINT_CLASSES = {"DECIMAL": Numeric, "TIMESTAMP": Timestamp, "DATE": Date, "TIME": Time,
                 "UUID": Uuid, "JSON": Json}


def decode_parameters(parameters: list[dict] | None) -> dict[str, object]:
    """Data API ``SqlParameter`` list -> {name: python value for psycopg}."""
    values: dict[str, object] = {}
    for param in parameters or []:
        name = param.get("name")
        if not name:
            raise BadRequest("Parameter name must be specified")
        values[name] = decode_field(param.get("value") or {}, param.get("typeHint"), name)
    return values


def decode_field(field: dict, type_hint: str | None, name: str) -> object:
    """One ``Field`` union (+ optional typeHint) -> a value psycopg sends typed."""
    if len(field) != 1:
        raise BadRequest(f"Parameter {name} must have exactly one value")
    kind, value = next(iter(field.items()))
    if kind == "isNull":
        return None
    if kind == "booleanValue":
        return bool(value)
    if kind == "longValue":
        return Int8(value)
    if kind == "doubleValue":
        return float(value)
    if kind == "blobValue":
        return base64.b64decode(value)
    if kind == "stringValue":
        return _typed_string(value, type_hint, name)
    if kind == "arrayValue":
        raise BadRequest("Array parameters are not supported.")
    raise BadRequest(f"Unsupported value type {kind} for parameter {name}")


def _typed_string(value: str, type_hint: str | None, name: str) -> TypedText:
    if type_hint is None:
        return Varchar(value)
    cls = _HINT_CLASSES.get(type_hint)
    if cls is None:
        raise BadRequest(f"Invalid typeHint {type_hint} for parameter {name}")
    fmt = _HINT_FORMATS.get(type_hint)
    if fmt and not fmt[0].fullmatch(value):
        raise BadRequest(f"{fmt[1]}: {value!r} (parameter {name})")
    return cls(value)


def bind(compiled: CompiledSql, values: dict[str, object]) -> list[object]:
    """Order named values for the ``$n`` placeholders; a missing one is an error."""
    missing = [n for n in compiled.names if n not in values]
    if missing:
        raise BadRequest(f"No value specified for parameter: {missing[0]}")
    return [values[n] for n in compiled.names]
