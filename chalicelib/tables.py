"""DynamoDB tables, defined once as PynamoDB models.

The API and the matcher read and write through these models; the local stack and
the tests create the tables from :func:`table_specs`; ``infra/`` builds the
CloudFormation tables from the same specs.  Table names come from the settings.
"""
from __future__ import annotations

from dataclasses import dataclass

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
    """A trade execution, keyed by symbol and its sequential trade id."""

    class Meta(_Base.Meta):
        table_name = _s.trades_table

    symbol = UnicodeAttribute(hash_key=True)
    trade_id = NumberAttribute(range_key=True)
    price = UnicodeAttribute()
    qty = UnicodeAttribute()
    quote_qty = UnicodeAttribute()
    buyer_order_id = NumberAttribute()
    seller_order_id = NumberAttribute()
    is_buyer_maker = BooleanAttribute()
    event_seq = NumberAttribute()
    time_ms = NumberAttribute()


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
        kwargs = {
            "TableName": self.table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream_view_type:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view_type}
        return kwargs


def table_specs() -> list[TableSpec]:
    specs = []
    for model in MODELS:
        schema = model._get_schema()
        ttl = next((a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)), None)
        specs.append(TableSpec(
            logical_name=model.__name__.removesuffix("Model"),
            table_name=model.Meta.table_name,
            key_schema=sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                               for k in schema["key_schema"]), key=lambda k: k["KeyType"] != "HASH"),
            attribute_definitions=[{"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                                   for a in schema["attribute_definitions"]],
            stream_view_type=getattr(model.Meta, "stream_view_type", None),
            ttl_attribute=ttl,
        ))
    return specs


def create_tables(client) -> list[str]:
    """Create every table that does not exist yet (with streams and TTL); return the
    names created.  ``client`` is a boto3 DynamoDB client."""
    existing = set(client.list_tables()["TableNames"])
    created = []
    for spec in table_specs():
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
