"""Which matcher group's intents table an intent goes to (chalicelib/routing.py): the
names, the route over the symbols file, and the per-process cache that bounds a stale
route to ROUTE_CACHE_MS (what the moved symbol's second re-send relies on)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib import routing
from chalicelib.routing import ROUTE_HALTED, Route


class Leases:
    """A LEASES table's GetItem, counting the calls (a pure stand-in: no server)."""

    def __init__(self):
        self.items: dict[str, dict] = {}
        self.calls = 0

    def get_item(self, TableName, Key, ConsistentRead):
        assert ConsistentRead  # a route read is never older than the cache says
        self.calls += 1
        item = self.items.get(Key["lease_key"]["S"])
        return {"Item": item} if item else {}


@pytest.fixture
def clients():
    routing.forget_routes()
    yield SimpleNamespace(dynamodb=Leases(), settings=SimpleNamespace(leases_table="leases"))
    routing.forget_routes()


def test_each_group_has_its_own_intents_table_of_one_definition():
    from chalicelib.tables import IntentModel, intent_model, table_specs

    assert routing.intents_table(0, "x-intents") == "x-intents"
    assert routing.intents_table(2, "x-intents") == "x-intents-g2"
    assert intent_model(0) is IntentModel
    g2 = intent_model(2)
    assert g2 is intent_model(2) and issubclass(g2, IntentModel)
    assert g2.Meta.table_name == routing.intents_table(2, IntentModel.Meta.table_name)
    specs = {s.table_name: s for s in table_specs(3)}
    base = specs[IntentModel.Meta.table_name]
    for g in (1, 2):
        spec = specs[routing.intents_table(g, IntentModel.Meta.table_name)]
        assert (spec.key_schema, spec.attribute_definitions, spec.stream_view_type, spec.ttl_attribute) == \
            (base.key_schema, base.attribute_definitions, base.stream_view_type, base.ttl_attribute)
        assert spec.logical_name == f"IntentG{g}"
    assert len(table_specs(1)) == len(specs) - 2


def test_a_route_overrides_the_symbols_file_and_is_cached_for_a_second(clients):
    from chalicelib.symbols import load_catalog

    file_group = load_catalog().group_of("ETHBTC")
    assert routing.group_of("ETHBTC", clients) == file_group  # no route item: the file's group
    clients.dynamodb.items["route:ETHBTC"] = Route("ETHBTC", 3, ROUTE_HALTED, 1).to_item()
    assert routing.group_of("ETHBTC", clients) == file_group  # cached: one read per second at most
    assert clients.dynamodb.calls == 1
    group, read_at = routing._cache["ETHBTC"]
    routing._cache["ETHBTC"] = (group, read_at - routing.ROUTE_CACHE_MS / 1000)  # a second later
    assert routing.group_of("ETHBTC", clients) == 3  # a halted route still names its group's table
    assert clients.dynamodb.calls == 2
    assert Route.from_item(Route("ETHBTC", 3, ROUTE_HALTED, 1, 7).to_item()) == Route("ETHBTC", 3, ROUTE_HALTED, 1, 7)
