"""The matcher service: ``python -m matcher``.

Reads the intents table's DynamoDB Stream with KCL-style shard leases, holds one
lease (with a fencing token) per symbol, journals the sequenced input, drives the
engine, and applies each stream batch's effects -- DynamoDB trades/book items,
one PostgreSQL settlement transaction, Redis market data -- before moving the
checkpoint.  See :mod:`matcher.service.worker` for the loop and the recovery
rules.
"""
