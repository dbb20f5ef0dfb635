"""PostgreSQL for the local stack and the tests: ``DATABASE_URL`` if given, else an
embedded server from the ``pgserver`` package whose data lives in a folder we name
(so balances survive a restart of the stack)."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg

if TYPE_CHECKING:
    from pgserver import PostgresServer

log = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be reached or started (one-line reason)."""


@dataclass
class Postgres:
    """A running PostgreSQL server: its admin URL and, if embedded, the handle that
    stops it."""

    admin_url: str
    embedded: PostgresServer | None = None

    def database_url(self, name: str) -> str:
        """URL of database ``name`` on this server (created if missing)."""
        ensure_database(self.admin_url, name)
        return with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def pid(self) -> int | None:
        """The embedded server's postmaster pid (None for a given ``DATABASE_URL``)."""
        if self.embedded is None:
            return None
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.embedded.pgdata)
        return info.pid if info is not None else None

    def ensure_running(self) -> None:
        """Start the embedded server again if it died (pg_ctl; a stale ``postmaster.pid``
        is fine).  Fails while backends of the dead postmaster still hold its shared
        memory; they exit by themselves within moments, so the caller retries."""
        if self.embedded is not None:
            self.embedded.ensure_postgres_running()

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


def with_database(url: str, name: str) -> str:
    """Replace the database name in a postgresql:// URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_database(admin_url: str, name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"bad database name {name!r}")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def check(url: str, timeout: int = 5) -> None:
    """Raise PostgresUnavailable with one line if ``url`` cannot be reached."""
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PostgresUnavailable(f"cannot reach PostgreSQL at {redact(url)}: {first}") from None


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def start(database_url: str | None, data_dir: Path) -> Postgres:
    """Use ``database_url`` when given (checked), else start/attach the embedded server
    whose data lives in ``data_dir``."""
    if database_url:
        check(database_url)
        admin = with_database(database_url, "postgres")
        try:
            check(admin)
        except PostgresUnavailable:
            admin = database_url  # no access to the maintenance db: use the given one
        return Postgres(admin_url=admin)
    import warnings

    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: heavy, and only the local stack needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare CalledProcessError etc.
        raise PostgresUnavailable(f"embedded PostgreSQL failed to start in {data_dir}: {exc}") from None
    return Postgres(admin_url=server.get_uri(), embedded=server)
