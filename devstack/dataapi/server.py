"""The HTTP face: the ``rds-data`` restJson1 protocol boto3 speaks, on stdlib
``ThreadingHTTPServer`` (one thread per client connection, HTTP/1.1 keep-alive).

Routes: POST /Execute, /BatchExecute, /BeginTransaction, /CommitTransaction,
/RollbackTransaction, /ExecuteSql; GET /health.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import results
from .backend import RESPONSE_TOO_LARGE, Backend, StatementResult
from .errors import ApiError, BadRequest

log = logging.getLogger(__name__)


class DataApiServer:
    """A local Aurora Data API endpoint backed by the PostgreSQL at ``database_url``.

    ``transaction_timeout``: seconds a transaction may sit idle before it is rolled
    back.  ``max_response_bytes``: the service's 1 MiB result limit (larger results
    fail so callers page, as ``aurora_data_api`` does, exactly as they must on AWS).
    """

    def __init__(self, database_url: str, host: str = "127.0.0.1", port: int = 0,
                 transaction_timeout: float = 180.0, max_response_bytes: int | None = None):
        kwargs = {} if max_response_bytes is None else {"max_response_bytes": max_response_bytes}
        self.backend = Backend(database_url, transaction_timeout, **kwargs)
        self._host, self._port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen, then serve in a daemon thread; returns once the port is bound."""
        handler = type("BoundHandler", (Handler,), {"api": Api(self.backend)})
        self._httpd = ThreadingHTTPServer((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self.backend.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="dataapi-http", daemon=True)
        self._thread.start()
        log.info("Data API listening on %s", self.url)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("DataApiServer not started")
        host, port = self._httpd.server_address[:2]
        if isinstance(host, bytes):  # an AF_UNIX server's address; this one is AF_INET
            host = host.decode()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving, roll back open transactions, close all connections."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.backend.close()


class Api:
    """Request dict -> response dict for each operation."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.routes = {
            "/Execute": self.execute_statement,
            "/BatchExecute": self.batch_execute_statement,
            "/BeginTransaction": self.begin_transaction,
            "/CommitTransaction": self.commit_transaction,
            "/RollbackTransaction": self.rollback_transaction,
            "/ExecuteSql": self.execute_sql,
        }

    def dispatch(self, path: str, request: dict) -> dict:
        op = self.routes.get(path)
        if op is None:
            raise ApiError(f"Unknown operation {path}")
        log.debug("%s resourceArn=%s secretArn=%s", path, request.get("resourceArn"),
                  request.get("secretArn"))
        return op(request)

    def execute_statement(self, req: dict) -> dict:
        sql = _required(req, "sql")
        options = req.get("resultSetOptions") or {}
        if options.get("decimalReturnType", "STRING") != "STRING":
            raise BadRequest("decimalReturnType DOUBLE_OR_LONG is not supported locally: "
                             "NUMERIC is money here and is never turned into a float")
        long_as_string = options.get("longReturnType") == "STRING"
        with_meta = bool(req.get("includeResultMetadata"))
        res = self.backend.run(
            self.backend.database(req.get("database")), req.get("transactionId"),
            lambda conn: self.backend.execute(conn, sql, req.get("parameters"), with_meta))
        response = {"numberOfRecordsUpdated": res.records_updated, "generatedFields": []}
        if res.rows is not None:
            if req.get("formatRecordsAs") == "JSON":
                response["formattedRecords"] = results.formatted_records(res.rows, res.cols)
            else:
                response["records"] = [[results.encode_field(v, c, long_as_string)
                                         for v, c in zip(row, res.cols, strict=True)] for row in res.rows]
            if with_meta:
                response["columnMetadata"] = _metadata(res)
        return response

    def batch_execute_statement(self, req: dict) -> dict:
        sql = _required(req, "sql")
        sets = req.get("parameterSets") or []
        count = self.backend.run(self.backend.database(req.get("database")), req.get("transactionId"),
                                 lambda conn: self.backend.execute_batch(conn, sql, sets))
        return {"updateResults": [{"generatedFields": []} for _ in range(count)]}

    def begin_transaction(self, req: dict) -> dict:
        return {"transactionId": self.backend.begin(self.backend.database(req.get("database")))}

    def commit_transaction(self, req: dict) -> dict:
        return {"transactionStatus": self.backend.commit(_required(req, "transactionId"))}

    def rollback_transaction(self, req: dict) -> dict:
        return {"transactionStatus": self.backend.rollback(_required(req, "transactionId"))}

    def execute_sql(self, req: dict) -> dict:
        """The deprecated ExecuteSql: ``;``-separated statements, no parameters."""
        sql = _required(req, "sqlStatements")
        sets = self.backend.run(self.backend.database(req.get("database")), None,
                                lambda conn: self.backend.execute_script(conn, sql))
        return {"sqlStatementResults": [_legacy_result(r) for r in sets]}


def _required(req: dict, name: str):
    value = req.get(name)
    if value in (None, ""):
        raise BadRequest(f"{name} is required")
    return value


def _metadata(res: StatementResult) -> list[dict]:
    return [results.column_metadata(c, res.table_meta.get((c.table_oid, c.table_col)))
            for c in res.cols]


def _legacy_result(res: StatementResult) -> dict:
    out: dict[str, object] = {"numberOfRecordsUpdated": res.records_updated}
    if res.rows is not None:
        out["resultFrame"] = {
            "resultSetMetadata": {"columnCount": len(res.cols), "columnMetadata": _metadata(res)},
            "records": [{"values": [results.legacy_value(v, c) for v, c in zip(row, res.cols, strict=True)]}
                        for row in res.rows],
        }
    return out


class Handler(BaseHTTPRequestHandler):
    """Decode JSON, dispatch, encode JSON or an error in the service's shape."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # close idle keep-alive connections
    # Headers and body leave in one segment with Nagle off: otherwise every response
    # waits ~40 ms on the client's delayed ACK.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    api: Api

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            request = json.loads(raw or b"{}")
            if not isinstance(request, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self._send_error(BadRequest(f"Invalid request body: {exc}"))
            return
        try:
            body = json.dumps(self.api.dispatch(self.path.split("?", 1)[0], request),
                              separators=(",", ":")).encode()
        except ApiError as exc:
            self._send_error(exc)
            return
        except Exception as exc:  # a bug here must not look like a database error
            log.exception("Data API internal error on %s", self.path)
            self._send(500, {"__type": "InternalServerErrorException", "message": repr(exc)},
                       "InternalServerErrorException")
            return
        if len(body) > self.api.backend.max_response_bytes:
            self._send_error(BadRequest(RESPONSE_TOO_LARGE))
            return
        self._send_raw(200, body)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/health":
            self._send(404, {"message": "Not Found"})
            return
        try:
            self.api.backend.run(self.api.backend.default_database, None,
                                 lambda conn: conn.execute("SELECT 1").fetchone())
        except ApiError as exc:
            self._send(503, {"status": "error", "error": exc.message})
            return
        self._send(200, {"status": "ok"})

    def _send_error(self, exc: ApiError) -> None:
        self._send(exc.status, exc.body(), exc.code)

    def _send(self, status: int, payload: dict, error_type: str | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), error_type)

    def _send_raw(self, status: int, body: bytes, error_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s - %s", self.address_string(), fmt % args)
