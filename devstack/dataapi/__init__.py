"""A local Aurora Data API (``rds-data``) endpoint backed by a real PostgreSQL, so
``aurora_data_api`` / boto3 code runs unchanged on a laptop and in tests.

    server = DataApiServer(database_url); server.start(); ... server.url ...; server.stop()

or ``python -m devstack.dataapi --database-url URL [--host H] [--port P]``.
"""
from .server import DataApiServer

__all__ = ["DataApiServer"]
