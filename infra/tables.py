"""The DynamoDB table shapes, taken from chalicelib.tables (the one definition).

Infra never re-declares a key, a stream or a TTL attribute: it reads
:func:`chalicelib.tables.table_specs` and only chooses the per-stage *name*.  The name
is ``exchange-<stage>-<suffix>`` where the suffix comes from the settings field the
model's name is read from (``intents_table`` -> ``intents``), and the environment
variable that carries it to the code is that field's variable (``INTENTS_TABLE``).
Matcher group *n*'s intents table is ``exchange-<stage>-intents-g<n>``: the code
derives it from ``INTENTS_TABLE`` and the group (``chalicelib/routing.py``).
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
    env_var: str          # e.g. INTENTS_TABLE (for a group's intents table: the one naming group 0's)
    suffix: str           # e.g. intents, intents-g1
    group: int | None = None  # the matcher group of an intents table (None: not one)

    @property
    def logical_name(self) -> str:
        return self.spec.logical_name


def stage_tables(groups: int | None = None) -> list[StageTable]:
    """Every table the code defines, with the settings variable that names it: one
    intents table per matcher group (``groups``: the symbols file's by default), named
    by :func:`chalicelib.routing.intents_table` from ``INTENTS_TABLE``'s."""
    from chalicelib.routing import intents_table
    from chalicelib.tables import table_specs

    current = _settings.get_settings()      # the names chalicelib.tables was built with
    by_value: dict[str, tuple[str, str, int | None]] = {}
    for setting in _settings.SPECS:
        if setting.field.endswith("_table"):
            by_value[getattr(current, setting.field)] = (setting.env, setting.field.removesuffix("_table"), None)
    if groups is None:
        from chalicelib.symbols import load_catalog

        groups = load_catalog().groups
    specs = table_specs(groups)
    intents, stem = current.intents_table, by_value[current.intents_table][1]
    by_value[intents] = ("INTENTS_TABLE", stem, 0)
    for g in range(1, groups):
        by_value[intents_table(g, intents)] = ("INTENTS_TABLE", intents_table(g, stem), g)
    out = []
    for spec in specs:
        if spec.table_name not in by_value:
            raise LookupError(f"table {spec.table_name!r} ({spec.logical_name}) is not named by any *_TABLE setting")
        env_var, suffix, of_group = by_value[spec.table_name]
        out.append(StageTable(spec=spec, env_var=env_var, suffix=suffix, group=of_group))
    return out
