"""The local Aurora Data API, exercised through the real clients over HTTP:
``aurora_data_api`` (the DB-API driver the API code uses) on top of
``boto3.client('rds-data', endpoint_url=...)``, against a real PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import aurora_data_api
import boto3
import pytest
from aurora_data_api.exceptions import PostgreSQLError
from botocore.config import Config
from botocore.exceptions import ClientError
from psycopg.conninfo import conninfo_to_dict

from devstack.dataapi import DataApiServer
from devstack.dataapi.sqlparams import compile_named

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "arn:aws:rds:us-east-1:000000000000:cluster:exchange-local"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:exchange-local"


def make_client(url: str):
    return boto3.client("rds-data", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def postgres_url(postgres_server):
    """A database of this module's own: its scratch tables must not meet the
    exchange schema that the rest of the suite migrates into the session database."""
    name = f"dataapi_test_{uuid.uuid4().hex[:10]}"
    yield postgres_server.database_url(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def dataapi_url(postgres_url):
    server = DataApiServer(postgres_url, host="127.0.0.1", port=0)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def dbname(postgres_url) -> str:
    return conninfo_to_dict(postgres_url)["dbname"]


@pytest.fixture(scope="module")
def client(dataapi_url):
    return make_client(dataapi_url)


@pytest.fixture(scope="module")
def run(client, dbname):
    """Raw ExecuteStatement in autocommit mode: run(sql, **kwargs) -> response."""
    def _run(sql, **kwargs):
        return client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database=dbname,
                                        sql=sql, **kwargs)
    return _run


@pytest.fixture()
def connect(client, dbname):
    conns = []

    def _connect(rds_client=None):
        conn = aurora_data_api.connect(aurora_cluster_arn=CLUSTER, secret_arn=SECRET, database=dbname,
                                       rds_data_client=rds_client or client)
        conns.append(conn)
        return conn
    yield _connect
    for conn in conns:  # never leave a transaction open behind a failed test
        try:
            conn.rollback()
        except Exception:
            pass


@pytest.fixture(scope="module")
def tables(run):
    run("""
        CREATE TABLE everything (
          id serial PRIMARY KEY,
          b boolean, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
          n numeric(38,18), t text, vc varchar(20), by bytea, d date, tm time,
          ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb,
          ia integer[], ta text[], na numeric(10,2)[]);
        CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(38,18) NOT NULL, owner text);
        CREATE TABLE lines (k text PRIMARY KEY, v int);
        CREATE TYPE side AS ENUM ('buy', 'sell');
    """)
    return True


@pytest.fixture(scope="module")
def tiny_server(postgres_url):
    """A second endpoint with a short transaction timeout and a small response limit."""
    server = DataApiServer(postgres_url, transaction_timeout=0.4, max_response_bytes=4000)
    server.start()
    yield server
    server.stop()


def sqlstate(exc: BaseException) -> str:
    return str(exc).rsplit("SQLState: ", 1)[1].strip()


# --- types --------------------------------------------------------------------------

NUM = Decimal("12345678901234567890.123456789012345678")  # 38 digits, 18 decimals
ROW = dict(b=True, i2=-32768, i4=2147483647, i8=9223372036854775807, f4=1.5, f8=-2.25e-300,
           n=NUM, t="it's :not a param — ünïcode", vc="short", by=b"\x00\x01\xffbinary",
           d=dt.date(2024, 2, 29), tm=dt.time(23, 59, 58, 123456),
           ts=dt.datetime(2024, 1, 2, 3, 4, 5, 600000), tstz=dt.datetime(2024, 1, 2, 3, 4, 5))
U = uuid.UUID("0b8f2c1e-5d4e-4f8a-9c3b-1a2b3c4d5e6f")


def test_every_type_round_trips_through_aurora_data_api(connect, tables):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO everything (b, i2, i4, i8, f4, f8, n, t, vc, by, d, tm, ts, tstz, u, j, jb, ia, ta, na)"
            " VALUES (:b, :i2, :i4, :i8, :f4, :f8, :n, :t, :vc, :by, :d, :tm, :ts, :tstz, :u::uuid,"
            " CAST(:j AS json), CAST(:j AS jsonb), '{1,NULL,3}', ARRAY['a', 'b c'], '{1.10,2.00}')"
            " RETURNING id",
            dict(ROW, u=str(U), j=json.dumps({"price": "1.5", "n": [1, 2]})))
        (row_id,) = cur.fetchone()
        cur.execute("INSERT INTO everything (id) VALUES (:id)", {"id": row_id + 1000})
        assert cur.rowcount == 1
        cur.execute("SELECT b, i2, i4, i8, f4, f8, n, t, vc, by, d, tm, ts, tstz, u, j, jb, ia, ta, na"
                    " FROM everything WHERE id IN (:a, :b) ORDER BY id", {"a": row_id, "b": row_id + 1000})
        full, empty = cur.fetchall()
    conn.commit()

    got = dict(zip([d.name for d in cur.description], full, strict=True))
    for name, value in ROW.items():
        if name != "tstz":
            assert got[name] == value and type(got[name]) is type(value), name
    assert str(got["n"]) == "12345678901234567890.123456789012345678"
    assert got["tstz"] == "2024-01-02 03:04:05"  # timestamptz: UTC text (not mapped by the driver)
    assert got["u"] == str(U)
    assert json.loads(got["j"]) == {"price": "1.5", "n": [1, 2]} == json.loads(got["jb"])
    assert got["ia"] == [1, None, 3]
    assert got["ta"] == ["a", "b c"]
    assert got["na"] == ["1.10", "2.00"]  # NUMERIC elements stay exact strings
    assert all(v is None for v in empty)


def test_wire_shapes_typehints_and_metadata(run, tables):
    res = run(
        "SELECT :dec AS dec, :ts AS ts, :d AS d, :t AS t, :u AS u, :j::jsonb AS j, :s AS s,"
        " :l AS l, :f AS f, :bool AS bool, :blob AS blob, :nothing::int AS nothing,"
        " '0'::numeric(38,18) AS zero, now() AT TIME ZONE 'UTC' AS naive_now",
        parameters=[
            {"name": "dec", "value": {"stringValue": "0.000000000000000001"}, "typeHint": "DECIMAL"},
            {"name": "ts", "value": {"stringValue": "2024-05-06 07:08:09.5"}, "typeHint": "TIMESTAMP"},
            {"name": "d", "value": {"stringValue": "2024-05-06"}, "typeHint": "DATE"},
            {"name": "t", "value": {"stringValue": "07:08:09"}, "typeHint": "TIME"},
            {"name": "u", "value": {"stringValue": str(U)}, "typeHint": "UUID"},
            {"name": "j", "value": {"stringValue": '{"a": 1}'}, "typeHint": "JSON"},
            {"name": "s", "value": {"stringValue": "plain"}},
            {"name": "l", "value": {"longValue": 7}},
            {"name": "f", "value": {"doubleValue": 0.5}},
            {"name": "bool", "value": {"booleanValue": False}},
            {"name": "blob", "value": {"blobValue": b"\x01\x02"}},
            {"name": "nothing", "value": {"isNull": True}},
        ],
        includeResultMetadata=True, continueAfterTimeout=True)
    (rec,) = res["records"]
    assert rec[:12] == [
        {"stringValue": "0.000000000000000001"}, {"stringValue": "2024-05-06 07:08:09.500000"},
        {"stringValue": "2024-05-06"}, {"stringValue": "07:08:09"}, {"stringValue": str(U)},
        {"stringValue": '{"a": 1}'}, {"stringValue": "plain"}, {"longValue": 7},
        {"doubleValue": 0.5}, {"booleanValue": False}, {"blobValue": b"\x01\x02"}, {"isNull": True}]
    assert rec[12] == {"stringValue": "0.000000000000000000"}  # as PostgreSQL prints it, not 0E-18
    assert res["numberOfRecordsUpdated"] == 0 and res["generatedFields"] == []
    meta = {m["name"]: m for m in res["columnMetadata"]}
    assert [meta[k]["typeName"] for k in ("dec", "ts", "d", "t", "u", "j", "s", "l", "f", "bool", "blob")] == [
        "numeric", "timestamp", "date", "time", "uuid", "jsonb", "varchar", "int8", "float8", "bool", "bytea"]
    assert meta["zero"]["precision"] == 38 and meta["zero"]["scale"] == 18 and meta["zero"]["type"] == 2

    res = run("SELECT id, balance, owner FROM accounts WHERE false", includeResultMetadata=True)
    assert res["records"] == []
    id_, n, owner = res["columnMetadata"]
    assert (id_["tableName"], id_["nullable"], id_["type"], id_["label"]) == ("accounts", 0, 4, "id")
    assert (n["nullable"], n["precision"], n["scale"]) == (0, 38, 18)
    assert owner["nullable"] == 1 and owner["schemaName"] == "public"


def test_user_types_and_session_time_zone(connect, run, tables):
    res = run("SELECT 'sell'::side AS s", includeResultMetadata=True)
    assert res["records"] == [[{"stringValue": "sell"}]]
    assert res["columnMetadata"][0]["typeName"] == "side"
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET LOCAL TIME ZONE 'Asia/Kolkata'")
    cur.execute("SELECT '2024-01-02 03:04:05.25+00'::timestamptz, '2024-01-02 03:04:05'::timestamp")
    # timestamptz always comes back in UTC without an offset, whatever the session zone
    assert cur.fetchone() == ("2024-01-02 03:04:05.250000", dt.datetime(2024, 1, 2, 3, 4, 5))
    conn.rollback()


def test_decimal_is_never_rounded(connect, run, tables):
    conn = connect()
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO accounts (id, balance) VALUES (:id, :bal)",
                        [{"id": i, "bal": Decimal("0.100000000000000001")} for i in range(1, 11)])
        cur.execute("SELECT sum(balance), :x * 3 FROM accounts WHERE id <= 10",
                    {"x": Decimal("33333333333333333333.333333333333333333")})
        total, triple = cur.fetchone()
    conn.rollback()
    assert total == Decimal("1.000000000000000010")
    assert triple == Decimal("99999999999999999999.999999999999999999")
    res = run("SELECT :v::numeric(38,18)", parameters=[{"name": "v", "value": {"stringValue": "1E-18"},
                                                       "typeHint": "DECIMAL"}])
    assert res["records"] == [[{"stringValue": "0.000000000000000001"}]]
    with pytest.raises(ClientError, match="not supported"):
        run("SELECT 1.5::numeric", resultSetOptions={"decimalReturnType": "DOUBLE_OR_LONG"})
    res = run("SELECT 9223372036854775807::int8", resultSetOptions={"longReturnType": "STRING"})
    assert res["records"] == [[{"stringValue": "9223372036854775807"}]]


def test_plain_string_is_varchar_like_on_aws(connect, tables):
    """An untyped stringValue is varchar, so a uuid column needs a cast or typeHint —
    the same error the service gives, caught locally."""
    conn = connect()
    with pytest.raises(aurora_data_api.DatabaseError) as err, conn.cursor() as cur:
        cur.execute("INSERT INTO everything (u) VALUES (:u)", {"u": str(U)})
    assert sqlstate(err.value) == "42804"
    assert "is of type uuid but expression is of type character varying\n  Hint:" in str(err.value)


def test_timestamp_typehint_rejects_zone_offsets(run):
    with pytest.raises(ClientError, match="Timestamp format must be"):
        run("SELECT :t", parameters=[{"name": "t", "value": {"stringValue": "2024-01-01 00:00:00+02:00"},
                                      "typeHint": "TIMESTAMP"}])


def test_named_placeholders_leave_casts_literals_and_comments_alone(run):
    sql = ("SELECT :a::int AS a, ':b' AS lit, E'\\':c' AS esc, \"col:d\".x AS q, $$ :e $$ AS dollar,"
           " $t$ :f $t$ AS tagged, 5 % 3 AS pct -- :g\n /* :h /* nested :i */ */ FROM (SELECT 1 AS x) \"col:d\""
           " WHERE :a = :a")
    compiled = compile_named(sql)
    assert compiled.names == ("a",)
    assert compiled.sql.count("$1") == 3 and ":b" in compiled.sql and ":i" in compiled.sql
    res = run(sql, parameters=[{"name": "a", "value": {"longValue": 4}}])
    assert res["records"] == [[{"longValue": 4}, {"stringValue": ":b"}, {"stringValue": "':c"},
                               {"longValue": 1}, {"stringValue": " :e "}, {"stringValue": " :f "},
                               {"longValue": 2}]]
    with pytest.raises(ClientError, match="No value specified for parameter: zz"):
        run("SELECT :zz")


def test_json_records_and_execute_sql(client, run, dbname, tables):
    run("INSERT INTO lines (k, v) VALUES ('json', 1) ON CONFLICT DO NOTHING")
    res = run("SELECT k, v, 1.50::numeric AS n, NULL AS z FROM lines WHERE k = 'json'", formatRecordsAs="JSON")
    assert "records" not in res
    assert json.loads(res["formattedRecords"]) == [{"k": "json", "v": 1, "n": "1.50", "z": None}]
    out = client.execute_sql(dbClusterOrInstanceArn=CLUSTER, awsSecretStoreArn=SECRET, database=dbname,
                             sqlStatements="UPDATE lines SET v = 2 WHERE k = 'json';"
                                           " SELECT v, true AS t FROM lines WHERE k = 'json'")
    upd, sel = out["sqlStatementResults"]
    assert upd["numberOfRecordsUpdated"] == 1
    assert sel["resultFrame"]["records"] == [{"values": [{"intValue": 2}, {"bitValue": True}]}]
    assert sel["resultFrame"]["resultSetMetadata"]["columnCount"] == 2


def test_database_field_picks_the_database(client):
    res = client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database="postgres",
                                   sql="SELECT current_database()")
    assert res["records"] == [[{"stringValue": "postgres"}]]
    with pytest.raises(ClientError) as err:
        client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database="no_such_db_here",
                                 sql="SELECT 1")
    assert "3D000" in err.value.response["Error"]["Message"]


# --- batches and transactions ---------------------------------------------------------


def test_executemany_is_a_batch_and_batches_are_atomic(client, connect, run, dbname, tables):
    conn = connect()
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO lines (k, v) VALUES (:k, :v)", [{"k": f"m{i}", "v": i} for i in range(50)])
    conn.commit()
    assert run("SELECT count(*), sum(v) FROM lines WHERE k LIKE 'm%'")["records"] == [
        [{"longValue": 50}, {"longValue": 1225}]]

    sets = [[{"name": "k", "value": {"stringValue": k}}] for k in ("b1", "b2", "b1")]
    with pytest.raises(ClientError) as err:
        client.batch_execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database=dbname,
                                       sql="INSERT INTO lines (k) VALUES (:k)", parameterSets=sets)
    assert "SQLState: 23505" in err.value.response["Error"]["Message"]
    assert run("SELECT count(*) FROM lines WHERE k LIKE 'b_'")["records"] == [[{"longValue": 0}]]
    ok = client.batch_execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database=dbname,
                                        sql="INSERT INTO lines (k) VALUES (:k)", parameterSets=sets[:2])
    assert ok["updateResults"] == [{"generatedFields": []}, {"generatedFields": []}]


def test_commit_and_rollback(connect, run, tables):
    with connect() as conn:  # the driver commits on a clean exit
        conn.cursor().execute("INSERT INTO lines (k, v) VALUES ('committed', 1)")
    with pytest.raises(RuntimeError), connect() as conn:  # ... and rolls back on an exception
        conn.cursor().execute("INSERT INTO lines (k, v) VALUES ('rolled back', 1)")
        raise RuntimeError("boom")
    conn = connect()
    conn.cursor().execute("INSERT INTO lines (k, v) VALUES ('explicit rollback', 1)")
    conn.rollback()
    keys = run("SELECT k FROM lines WHERE v = 1 AND k IN ('committed', 'rolled back', 'explicit rollback')")
    assert keys["records"] == [[{"stringValue": "committed"}]]


def test_concurrent_transactions_are_isolated(connect, tables):
    a, b = connect(), connect()
    ca, cb = a.cursor(), b.cursor()
    ca.execute("INSERT INTO accounts (id, balance, owner) VALUES (100, 5, 'alice')")
    cb.execute("SELECT count(*) FROM accounts WHERE id = 100")
    assert cb.fetchone() == (0,)  # uncommitted: invisible to the other transaction
    a.commit()
    cb.execute("SELECT balance FROM accounts WHERE id = 100")
    assert cb.fetchone() == (Decimal("5.000000000000000000"),)  # read committed sees it now
    b.commit()

    ca, cb = a.cursor(), b.cursor()
    ca.execute("UPDATE accounts SET balance = balance - 1 WHERE id = 100")
    cb.execute("SET LOCAL lock_timeout = '150ms'")
    with pytest.raises(aurora_data_api.DatabaseError) as err:
        cb.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 100")
    assert sqlstate(err.value) == "55P03"  # lock_not_available: the row is held by a
    with pytest.raises(aurora_data_api.DatabaseError) as err:
        cb.execute("SELECT 1")  # b is now a failed transaction, as in PostgreSQL
    assert sqlstate(err.value) == "25P02"
    b.rollback()
    a.commit()
    cb = b.cursor()
    cb.execute("SELECT balance FROM accounts WHERE id = 100")
    assert cb.fetchone() == (Decimal("4.000000000000000000"),)
    b.commit()


def test_committing_a_failed_transaction_is_an_error(connect, tables):
    conn = connect()
    cur = conn.cursor()
    with pytest.raises(aurora_data_api.DatabaseError):
        cur.execute("SELECT 1/0")
    with pytest.raises(ClientError, match="25P02"):
        conn.commit()


def test_parallel_increments_do_not_lose_updates(client, connect, run, tables):
    run("INSERT INTO lines (k, v) VALUES ('counter', 0)")
    errors = []

    def worker():
        try:
            own = make_client(client.meta.endpoint_url)  # boto3 clients per thread
            for _ in range(10):
                with connect(own) as conn:
                    conn.cursor().execute("UPDATE lines SET v = v + 1 WHERE k = 'counter'")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert run("SELECT v FROM lines WHERE k = 'counter'")["records"] == [[{"longValue": 60}]]


def test_abandoned_transaction_is_rolled_back(tiny_server, dbname, run, tables):
    tiny = make_client(tiny_server.url)
    tx = tiny.begin_transaction(resourceArn=CLUSTER, secretArn=SECRET, database=dbname)["transactionId"]
    tiny.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database=dbname, transactionId=tx,
                           sql="INSERT INTO lines (k, v) VALUES ('abandoned', 1)")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and tx in tiny_server.backend.open_transactions:
        time.sleep(0.05)
    with pytest.raises(ClientError) as err:
        tiny.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx, sql="SELECT 1")
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert err.value.response["Error"]["Message"] == f"Transaction {tx} is not found"
    # rolled back, and its row lock released: an insert of the same key goes through
    run("SET lock_timeout = '1s'; INSERT INTO lines (k, v) VALUES ('abandoned', 2)")
    # ... and that SET did not stick to the pooled session for later requests
    assert run("SHOW lock_timeout")["records"] == [[{"stringValue": "0"}]]
    assert run("SELECT v FROM lines WHERE k = 'abandoned'")["records"] == [[{"longValue": 2}]]


def test_unknown_transaction_id(client, dbname):
    for call, kwargs in ((client.execute_statement, {"sql": "SELECT 1"}),
                         (client.commit_transaction, {}), (client.rollback_transaction, {})):
        with pytest.raises(ClientError) as err:
            call(resourceArn=CLUSTER, secretArn=SECRET, transactionId="no-such-tx", **kwargs)
        assert err.value.response["Error"] == {"Code": "BadRequestException",
                                               "Message": "Transaction no-such-tx is not found"}
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_large_results_are_paged_by_the_driver(tiny_server, connect, dbname):
    """Over the response limit the service refuses, and aurora_data_api falls back to a
    server-side cursor; both happen here as on AWS."""
    conn = connect(make_client(tiny_server.url))
    cur = conn.cursor()
    cur.execute("SELECT g, repeat('x', 50) FROM generate_series(1, 300) g ORDER BY g")
    rows = cur.fetchall()
    conn.commit()
    assert [r[0] for r in rows] == list(range(1, 301))


# --- errors ---------------------------------------------------------------------------


def test_errors_surface_as_dbapi_exceptions(connect, run, tables):
    conn = connect()
    cur = conn.cursor()
    with pytest.raises(PostgreSQLError.ER_SYNTAX_ERR) as err:
        cur.execute("SELEC 1")
    assert isinstance(err.value, aurora_data_api.DatabaseError)
    assert str(err.value) == 'ERROR: syntax error at or near "SELEC"\n  Position: 1; SQLState: 42601'
    conn.rollback()
    cur = conn.cursor()
    with pytest.raises(PostgreSQLError.ER_UNDEF_TABLE):
        cur.execute("SELECT * FROM no_such_table")
    conn.rollback()

    run("INSERT INTO lines (k, v) VALUES ('dup', 1)")
    cur = conn.cursor()
    with pytest.raises(aurora_data_api.DatabaseError) as err:
        cur.execute("INSERT INTO lines (k, v) VALUES (:k, 2)", {"k": "dup"})
    conn.rollback()
    # As on AWS, a unique violation carries a Detail line and no Position, which
    # aurora_data_api 0.5.0 does not parse: a plain DatabaseError ending in the SQLState.
    assert type(err.value) is aurora_data_api.DatabaseError
    assert ('ERROR: duplicate key value violates unique constraint "lines_pkey"\n'
            "  Detail: Key (k)=(dup) already exists.; SQLState: 23505") in str(err.value)
    assert sqlstate(err.value) == "23505"


def test_error_wire_shape(dataapi_url):
    req = urllib.request.Request(dataapi_url + "/Execute", method="POST",
                                 data=json.dumps({"resourceArn": CLUSTER, "secretArn": SECRET,
                                                  "sql": "SELECT nope"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    assert err.value.headers["x-amzn-ErrorType"] == "BadRequestException"
    body = json.loads(err.value.read())
    assert body["__type"] == "BadRequestException"
    assert body["message"].endswith("SQLState: 42703")


# --- operations -------------------------------------------------------------------------


def test_health(dataapi_url):
    with urllib.request.urlopen(dataapi_url + "/health", timeout=5) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {"status": "ok"}


def test_command_line_server_starts_and_stops_on_sigterm(postgres_url):
    proc = subprocess.Popen([sys.executable, "-m", "devstack.dataapi", "--database-url", postgres_url,
                             "--port", "0", "--log-level", "WARNING"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/health", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
