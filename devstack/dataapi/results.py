"""PostgreSQL result rows and columns -> Data API ``Field``s and ``ColumnMetadata``.

Mapping (what the service returns for PostgreSQL, and what ``aurora_data_api`` reads):
NULL -> isNull; bool -> booleanValue; int2/int4/int8/oid -> longValue;
float4/float8 -> doubleValue; bytea -> blobValue (base64 on the wire);
arrays -> arrayValue (longValues/doubleValues/booleanValues/stringValues, nested
arrays as arrayValues); everything else -> stringValue in PostgreSQL's own text:
NUMERIC exactly as PostgreSQL prints it (never through float — it is money),
``timestamp``/``timestamptz`` as ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (timestamptz in
UTC, no offset, like the service), uuid/json/jsonb as their text.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re

from psycopg.postgres import types as builtin_types
from psycopg.types.string import TextLoader

# Types we want as PostgreSQL's exact text rather than psycopg's Python objects.
TEXT_TYPES = ("numeric", "uuid", "json", "jsonb", "date", "time", "timetz", "timestamp",
              "timestamptz", "interval", "money", "inet", "cidr", "macaddr", "xml")

LONG_TYPES = {"int2", "int4", "int8", "oid"}
DOUBLE_TYPES = {"float4", "float8"}

# java.sql.Types codes as PgJDBC reports them (ColumnMetadata.type).
JDBC_TYPES = {
    "int2": 5, "int4": 4, "int8": -5, "oid": -5, "numeric": 2, "money": 8, "float4": 7,
    "float8": 8, "bool": -7, "bit": -7, "char": 1, "bpchar": 1, "varchar": 12, "text": 12,
    "name": 12, "bytea": -2, "date": 91, "time": 92, "timetz": 92, "timestamp": 93,
    "timestamptz": 93, "refcursor": 2012,
}
JDBC_ARRAY, JDBC_OTHER = 2003, 1111
# PgJDBC's default precision for fixed-size types (variable-size ones use typmod).
PRECISION = {"int2": 5, "int4": 10, "int8": 19, "oid": 10, "float4": 8, "float8": 17,
             "bool": 1, "date": 13, "time": 15, "timetz": 21, "timestamp": 29,
             "timestamptz": 35, "uuid": 36, "text": 2147483647, "bytea": 2147483647,
             "json": 2147483647, "jsonb": 2147483647}

_TS = re.compile(r"(\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d(?::?\d\d){0,2})?")
_TIME = re.compile(r"(\d\d:\d\d:\d\d)(\.\d+)?")


def register_loaders(adapters) -> None:
    """Load the TEXT_TYPES (and arrays of them) as PostgreSQL's text, untouched."""
    for name in TEXT_TYPES:
        adapters.register_loader(name, TextLoader)


class ColumnInfo:
    """What we need to encode one result column: its type name and array-ness."""

    __slots__ = ("name", "oid", "type_name", "is_array", "elem_name", "fmod", "table_oid",
                 "table_col")

    def __init__(self, name, oid, type_name, is_array, elem_name, fmod, table_oid, table_col):
        self.name, self.oid, self.type_name = name, oid, type_name
        self.is_array, self.elem_name, self.fmod = is_array, elem_name, fmod
        self.table_oid, self.table_col = table_oid, table_col


def builtin_type_name(oid: int) -> tuple[str, bool, str] | None:
    """(typeName, is_array, element type name) for a built-in oid, else None."""
    info = builtin_types.get(oid)
    if info is None:
        return None
    if oid == info.array_oid:
        return "_" + info.name, True, info.name
    return info.name, False, info.name


# --- values ---------------------------------------------------------------------------


def encode_field(value, col: ColumnInfo, long_as_string: bool = False) -> dict:
    """One value -> a Data API ``Field`` union."""
    if value is None:
        return {"isNull": True}
    if col.is_array and isinstance(value, list):
        return {"arrayValue": encode_array(value, col.elem_name)}
    kind, scalar = encode_scalar(value, col.type_name)
    if kind == "longValue" and long_as_string:
        return {"stringValue": str(scalar)}
    return {kind: scalar}


def encode_scalar(value, type_name: str) -> tuple[str, object]:
    if isinstance(value, bool):
        return "booleanValue", value
    if isinstance(value, int):
        return "longValue", value
    if isinstance(value, float):
        return "doubleValue", value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "blobValue", base64.b64encode(bytes(value)).decode()
    return "stringValue", format_text(str(value), type_name)


def encode_array(items: list, elem_name: str) -> dict:
    """Nested lists -> ArrayValue; NULL elements stay JSON null in the typed list."""
    if any(isinstance(item, list) for item in items):
        return {"arrayValues": [encode_array(item if isinstance(item, list) else [item], elem_name)
                                for item in items]}
    sample = next((i for i in items if i is not None), None)
    kind, _ = encode_scalar(sample, elem_name) if sample is not None else ("stringValue", None)
    if kind == "blobValue":
        kind = "stringValue"
    values = [None if i is None else encode_scalar(i, elem_name)[1] for i in items]
    return {kind.replace("Value", "Values"): values}


def format_text(text: str, type_name: str) -> str:
    """PostgreSQL text -> the service's text for date/time types; others untouched."""
    if type_name in ("timestamp", "timestamptz"):
        return _format_timestamp(text)
    if type_name == "time":
        m = _TIME.fullmatch(text)
        if m:
            return m.group(1) + _fraction(m.group(2))
    return text


def _fraction(frac: str | None) -> str:
    """Microseconds padded to 6 digits (or none), which every Python's
    ``fromisoformat`` — the way ``aurora_data_api`` parses them — accepts."""
    if not frac or not frac.strip(".0"):
        return ""
    return (frac + "000000")[:7]


def _format_timestamp(text: str) -> str:
    m = _TS.fullmatch(text)
    if not m:  # infinity, BC dates: pass PostgreSQL's text through
        return text
    base, frac, offset = m.groups()
    if offset and offset.strip("+-0:"):
        return _to_utc(base, frac, offset)
    return base + _fraction(frac)


def _to_utc(base: str, frac: str | None, offset: str) -> str:
    """Shift a timestamptz printed in a non-UTC session zone to UTC."""
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    h, mnt, sec = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    local = dt.datetime.fromisoformat(base)
    utc = local - sign * dt.timedelta(hours=h, minutes=mnt, seconds=sec)
    return utc.strftime("%Y-%m-%d %H:%M:%S") + _fraction(frac)


# --- formatted (JSON) records and the legacy ExecuteSql Value shape -------------------


def json_value(value, col: ColumnInfo):
    """A value for ``formattedRecords`` (formatRecordsAs=JSON): numbers stay numbers
    except NUMERIC (a string, so it stays exact), bytes are base64."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        return [json_value(v, ColumnInfo(col.name, 0, col.elem_name, False, col.elem_name,
                                         -1, 0, 0)) for v in value]
    return encode_scalar(value, col.type_name)[1]


def formatted_records(rows, cols: list[ColumnInfo]) -> str:
    return json.dumps([{c.name: json_value(v, c) for v, c in zip(row, cols, strict=True)} for row in rows])


def legacy_value(value, col: ColumnInfo) -> dict:
    """The deprecated ExecuteSql ``Value`` union."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, list):
        elem = ColumnInfo(col.name, 0, col.elem_name, False, col.elem_name, -1, 0, 0)
        return {"arrayValues": [legacy_value(v, elem) for v in value]}
    kind, scalar = encode_scalar(value, col.type_name)
    if kind == "booleanValue":
        return {"bitValue": scalar}
    if kind == "longValue":
        return {"bigIntValue" if col.type_name in ("int8", "oid") else "intValue": scalar}
    if kind == "doubleValue" and col.type_name == "float4":
        return {"realValue": scalar}
    return {kind: scalar}


# --- column metadata ------------------------------------------------------------------


def precision_scale(col: ColumnInfo) -> tuple[int, int]:
    """Precision/scale from the type modifier the way PgJDBC derives them."""
    t, mod = col.type_name, col.fmod
    if t == "numeric":
        if mod < 4:
            return 0, 0
        return ((mod - 4) >> 16) & 0xFFFF, (mod - 4) & 0xFFFF
    if t in ("varchar", "bpchar"):
        return (mod - 4 if mod >= 4 else 2147483647), 0
    if t in ("timestamp", "timestamptz", "time", "timetz"):
        return PRECISION.get(t, 0), (mod if mod >= 0 else 6)
    return PRECISION.get(t, 0), 0


def column_metadata(col: ColumnInfo, table: dict | None) -> dict:
    """One ``ColumnMetadata``; ``table`` holds catalog facts for table columns."""
    precision, scale = precision_scale(col)
    t = col.type_name
    meta = {
        "name": col.name,
        "label": col.name,
        "type": JDBC_ARRAY if col.is_array else JDBC_TYPES.get(t, JDBC_OTHER),
        "typeName": t,
        "precision": precision,
        "scale": scale,
        "nullable": 2,  # columnNullableUnknown, for computed columns
        "isSigned": t in LONG_TYPES | DOUBLE_TYPES | {"numeric", "money"},
        "isCurrency": t == "money",
        "isCaseSensitive": t in ("text", "varchar", "bpchar", "char", "name", "json",
                                 "jsonb", "xml") or col.is_array,
        "isAutoIncrement": False,
        "schemaName": "",
        "tableName": "",
        "arrayBaseColumnType": JDBC_TYPES.get(col.elem_name, JDBC_OTHER) if col.is_array else 0,
    }
    if table:
        meta.update(table)
    return meta
