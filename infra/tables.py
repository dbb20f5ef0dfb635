"""The DynamoDB table shapes, taken from chalicelib.tables (the one definition).

Infra never re-declares a key, a stream or a TTL attribute: it reads
:func:`chalicelib.tables.table_specs` and only chooses the per-stage *name*.  The name
is ``exchange-<stage>-<suffix>`` where the suffix comes from the settings field the
model's name is read from (``intents_table`` -> ``intents``), and the environment
variable that carries it to the code is that field's variable (``INTENTS_TABLE``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import settings as _settings

if TYPE_CHECKING:
    from chalicelib.tables import TableSpec


@dataclass(frozen=True)
class StageTable:
    spec: TableSpec
    env_var: str          # e.g. INTENTS_TABLE
    suffix: str           # e.g. intents

    @property
    def logical_name(self) -> str:
        return self.spec.logical_name


def stage_tables() -> list[StageTable]:
    """Every table the code defines, with the settings variable that names it."""
    from chalicelib.tables import table_specs

    current = _settings.get_settings()      # the names chalicelib.tables was built with
    by_value = {}
    for setting in _settings.SPECS:
        if setting.field.endswith("_table"):
            by_value[getattr(current, setting.field)] = (setting.env, setting.field.removesuffix("_table"))
    out = []
    for spec in table_specs():
        if spec.table_name not in by_value:
            raise LookupError(f"table {spec.table_name!r} ({spec.logical_name}) is not named by any *_TABLE setting")
        env_var, suffix = by_value[spec.table_name]
        out.append(StageTable(spec=spec, env_var=env_var, suffix=suffix))
    return out
