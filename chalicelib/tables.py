"""DynamoDB tables, defined once as PynamoDB models.

The API reads and writes through these models, the matcher through their
:class:`ItemSerializer` (wire-format items, no model instance per item); the local
stack and the tests create the tables from :func:`table_specs`; ``infra/`` builds
the CloudFormation tables from the same specs.  Table names come from the settings.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.settings import get_settings

_s = get_settings()


class _Base(Model):
    class Meta:
        abstract = True
        region = _s.region
        billing_mode = "PAY_PER_REQUEST"


class IntentModel(_Base):
    """An order intent (new, cancel, cancel-replace, amend) written by the API.

    ``intent_id`` is ``<account_id>:<client_order_id>`` (or ``...:cancel:<id>``), so a
    retried request is a conditional put that changes nothing.  The table's stream is
    what the matcher consumes."""

    class Meta(_Base.Meta):
        table_name = _s.intents_table
        stream_view_type = "NEW_IMAGE"

    intent_id = UnicodeAttribute(hash_key=True)
    symbol = UnicodeAttribute()
    account_id = NumberAttribute()
    kind = UnicodeAttribute()
    order_id = NumberAttribute(null=True)
    payload = UnicodeAttribute()  # canonical JSON of the command, Decimals as strings
    created_ms = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class TradeModel(_Base):
    """A trade page: one symbol's consecutive trade executions from one matcher batch,
    keyed by symbol and the page's first trade id (``trade_id``), up to
    ``last_trade_id``; ``trades`` holds the rows as compact JSON.  One item per page
    rather than per trade: the layout, its limits and how to read pages that a repeated
    batch left overlapping are in :mod:`chalicelib.tradepages`."""

    class Meta(_Base.Meta):
        table_name = _s.trades_table

    symbol = UnicodeAttribute(hash_key=True)
    trade_id = NumberAttribute(range_key=True)  # the page's first trade id
    last_trade_id = NumberAttribute()
    trades = UnicodeAttribute()  # JSON rows, see chalicelib.tradepages.ROW_FIELDS


class BookModel(_Base):
    """Order book state per symbol: depth snapshots and engine snapshots (``item``
    names which)."""

    class Meta(_Base.Meta):
        table_name = _s.book_table

    symbol = UnicodeAttribute(hash_key=True)
    item = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    fencing_token = NumberAttribute()
    body = UnicodeAttribute()


class JournalModel(_Base):
    """The matcher's sequenced input per symbol: what recovery replays."""

    class Meta(_Base.Meta):
        table_name = _s.journal_table

    symbol = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    intent_id = UnicodeAttribute()
    fencing_token = NumberAttribute()
    body = UnicodeAttribute()


class LeaseModel(_Base):
    """Shard leases and checkpoints (as the Kinesis Client Library keeps them) and
    per-symbol ownership leases with a fencing token."""

    class Meta(_Base.Meta):
        table_name = _s.leases_table

    lease_key = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    counter = NumberAttribute(default=0)  # fencing token: bumped on every takeover
    expires_ms = NumberAttribute(default=0)
    checkpoint = UnicodeAttribute(null=True)
    parents = UnicodeAttribute(null=True)
    finished = BooleanAttribute(default=False)


MODELS: tuple[type[Model], ...] = (
    IntentModel, TradeModel, BookModel, JournalModel, LeaseModel,
)

_GROUP_MODELS: dict[tuple[int, str], type[IntentModel]] = {}


def intent_model(group: int) -> type[IntentModel]:
    """The model of matcher group ``group``'s intents table: :class:`IntentModel`
    itself for group 0, a subclass naming ``<INTENTS_TABLE>-g<n>`` otherwise (the same
    attributes, key and stream: one definition, see :mod:`chalicelib.routing`)."""
    if group == 0:
        return IntentModel
    from chalicelib.routing import intents_table

    name = intents_table(group, IntentModel.Meta.table_name)
    key = (group, name)
    if key not in _GROUP_MODELS:
        meta = type("Meta", (IntentModel.Meta,), {"table_name": name})
        _GROUP_MODELS[key] = type(f"IntentModelG{group}", (IntentModel,), {"Meta": meta})
    return _GROUP_MODELS[key]

_FROM_WIRE: dict[str, Callable[[dict], Any]] = {
    "S": lambda w: w["S"],
    "N": lambda w: int(w["N"]),  # every number kept in these tables is an integer
    "BOOL": lambda w: w["BOOL"],
}


class ItemSerializer:
    """One table's items in DynamoDB's wire format (``{"seq": {"N": "7"}}``), for code
    that talks to the low-level client -- the matcher, whose hot path builds no model
    instance per item.  Attribute names, types and the key schema are read from the
    table's model, which stays the one definition of the layout (the Kinesis Client
    Library's ``DynamoDBLeaseSerializer``, derived from a PynamoDB model).

    Attributes are named by the model's Python names: ``name("seq")`` is the stored
    name (for expressions), ``to_item(symbol="BTCUSDT", seq=7)`` an item (``None``
    values left out), ``from_item(item)`` the Python values by Python name (numbers as
    ``int``; absent and undeclared attributes absent), ``key(...)`` a primary key."""

    def __init__(self, model: type[Model]):
        attrs = model.get_attributes()
        self.model = model
        self._names = {py: a.attr_name for py, a in attrs.items()}
        self._spec = {py: (a.attr_name, a.attr_type) for py, a in attrs.items()}
        self._from = {a.attr_name: (py, _FROM_WIRE[a.attr_type]) for py, a in attrs.items()}
        self.hash_key = next(py for py, a in attrs.items() if a.is_hash_key)
        self.range_key = next((py for py, a in attrs.items() if a.is_range_key), None)

    def name(self, attr: str) -> str:
        return self._names[attr]

    def value(self, attr: str, v: Any) -> dict:
        """``v`` as ``attr`` stores it (for ``ExpressionAttributeValues``)."""
        t = self._spec[attr][1]
        return {t: bool(v)} if t == "BOOL" else {t: str(v)}

    def to_item(self, **values: Any) -> dict:
        out, spec = {}, self._spec
        for k, v in values.items():  # a loop, not a call per attribute: the matcher's hot path
            if v is not None:
                name, t = spec[k]
                out[name] = {t: bool(v)} if t == "BOOL" else {t: str(v)}
        return out

    def from_item(self, item: dict) -> dict[str, Any]:
        out, known = {}, self._from
        for name, wire in item.items():
            f = known.get(name)
            if f is not None:  # an attribute the model does not declare is not ours to read
                out[f[0]] = f[1](wire)
        return out

    def key(self, hash_value: Any, range_value: Any = None) -> dict:
        k = {self._names[self.hash_key]: self.value(self.hash_key, hash_value)}
        if self.range_key is not None:
            k[self._names[self.range_key]] = self.value(self.range_key, range_value)
        return k


INTENT_ITEMS = ItemSerializer(IntentModel)
TRADE_ITEMS = ItemSerializer(TradeModel)
BOOK_ITEMS = ItemSerializer(BookModel)
JOURNAL_ITEMS = ItemSerializer(JournalModel)
LEASE_ITEMS = ItemSerializer(LeaseModel)


@dataclass(frozen=True)
class TableSpec:
    """Everything needed to create a table, in DynamoDB's own words."""

    logical_name: str
    table_name: str
    key_schema: list[dict]
    attribute_definitions: list[dict]
    stream_view_type: str | None
    ttl_attribute: str | None

    def create_table_kwargs(self) -> dict:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream_view_type:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view_type}
        return kwargs


def table_specs(groups: int | None = None) -> list[TableSpec]:
    """Every table's spec: the models', and one intents table per matcher group beyond
    the first (``groups``: the symbols file's ``matcherGroups`` by default), logical
    name ``IntentG<n>``."""
    if groups is None:
        from chalicelib.symbols import load_catalog

        groups = load_catalog().groups
    specs = []
    for model in (*MODELS, *(intent_model(g) for g in range(1, groups))):
        schema = model._get_schema()
        ttl = next((a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)), None)
        specs.append(TableSpec(
            logical_name=model.__name__.replace("Model", ""),
            table_name=model.Meta.table_name,
            key_schema=sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                               for k in schema["key_schema"]), key=lambda k: k["KeyType"] != "HASH"),
            attribute_definitions=[{"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                                   for a in schema["attribute_definitions"]],
            stream_view_type=getattr(model.Meta, "stream_view_type", None),
            ttl_attribute=ttl,
        ))
    return specs


def create_tables(client, groups: int | None = None) -> list[str]:
    """Create every table that does not exist yet (with streams and TTL); return the
    names created.  ``client`` is a boto3 DynamoDB client; ``groups`` as in
    :func:`table_specs`."""
    existing = set(client.list_tables()["TableNames"])
    created = []
    for spec in table_specs(groups):
        if spec.table_name in existing:
            continue
        client.create_table(**spec.create_table_kwargs())
        client.get_waiter("table_exists").wait(TableName=spec.table_name,
                                               WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        if spec.ttl_attribute:
            client.update_time_to_live(TableName=spec.table_name,
                                       TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute})
        created.append(spec.table_name)
    return created
