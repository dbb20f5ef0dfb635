"""Errors in the Data API's wire shape.

boto3 turns a restJson1 error into ``ClientError`` (and the modeled exception class)
from the ``x-amzn-ErrorType`` header / ``__type`` field plus ``message``.  Database
errors carry the PostgreSQL message formatted like the real service does (the JDBC
driver's ``ServerErrorMessage`` text followed by ``; SQLState: XXXXX``), because
``aurora_data_api`` parses exactly that text to pick its exception class.
"""
from __future__ import annotations

import psycopg


class ApiError(Exception):
    """An error response: HTTP status, modeled error code and message."""

    status = 400
    code = "BadRequestException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"__type": self.code, "message": self.message}


class BadRequest(ApiError):
    pass


class DatabaseUnavailable(ApiError):
    status = 504
    code = "DatabaseUnavailableException"


def transaction_not_found(transaction_id: str) -> BadRequest:
    return BadRequest(f"Transaction {transaction_id} is not found")


def from_postgres(exc: psycopg.Error) -> ApiError:
    """A psycopg error -> BadRequestException with the service's message text.

    A broken connection without a server error is reported as the database being
    unavailable, as the service does when it cannot reach the cluster.
    """
    diag = exc.diag
    if diag.sqlstate is None and diag.message_primary is None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, psycopg.OperationalError):
            return DatabaseUnavailable(f"Database unavailable: {first}")
        return BadRequest(first)
    return BadRequest(postgres_message(diag))


def postgres_message(diag) -> str:
    """Format like PgJDBC's ``ServerErrorMessage.toString()`` + ``; SQLState: X``.

    e.g. ``ERROR: relation "x" does not exist\\n  Position: 15; SQLState: 42P01``.
    ``aurora_data_api`` maps the SQLState to an exception class only when the text
    matches ``ERROR: <one line>\\n  Position: N; SQLState: X`` — as with the real
    service, errors that have a Detail or no Position (unique violations, ...) reach
    it as a plain ``DatabaseError`` whose message still ends with the SQLState.
    """
    severity = diag.severity_nonlocalized or diag.severity or "ERROR"
    text = f"{severity}: {diag.message_primary or ''}"
    for label, value in (("Detail", diag.message_detail), ("Hint", diag.message_hint),
                         ("Position", diag.statement_position), ("Where", diag.context)):
        if value:
            text += f"\n  {label}: {value}"
    return f"{text}; SQLState: {diag.sqlstate}"
