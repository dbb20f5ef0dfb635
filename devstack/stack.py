"""Starting, watching and stopping the local stack (see ``devstack/__main__.py``)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".devstack"
LOCAL_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True)
class Ports:
    web: int = 8000
    moto: int = 8001
    dataapi: int = 8002


@dataclass(frozen=True)
class Options:
    demo: bool = True
    matcher: bool = True
    bot: bool = True


class StackError(RuntimeError):
    """A one-line reason the stack cannot start."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path
    restart: bool = False
    argv: list[str] = field(default_factory=list)


def say(msg: str, *, end: str = "\n") -> None:
    print(msg, end=end, flush=True)


class Step:
    """Progress on the long start: 'starting X ... ok (1.2 s)'."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.t0 = time.monotonic()
        say(f"  {self.what} ...", end=" ")
        return self

    def __exit__(self, exc_type, exc, tb):
        took = time.monotonic() - self.t0
        say(f"ok ({took:.1f} s)" if exc_type is None else "FAILED")
        return False


# -- state file ---------------------------------------------------------------------
def state_file(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def read_state(state_dir: Path) -> dict | None:
    try:
        return json.loads(state_file(state_dir).read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 500
    except OSError:
        return False
    except Exception:
        return False


def wait_until(check, what: str, timeout: float = 30.0, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if child is not None and child.proc.poll() is not None:
            tail = child.log.read_text(errors="replace").strip().splitlines()[-5:] if child.log.exists() else []
            raise StackError(f"{what} exited with code {child.proc.returncode}: " + " | ".join(tail))
        time.sleep(0.1)
    raise StackError(f"{what} did not become healthy within {timeout:.0f} s")


# -- environment --------------------------------------------------------------------
def stack_env(ports: Ports, database_url: str, redis_url: str, pool_id: str = "", client_id: str = "") -> dict:
    """The settings every process of the local stack gets (see chalicelib/settings.py)."""
    from urllib.parse import urlsplit

    return {
        "DB_NAME": urlsplit(database_url).path.lstrip("/") or "exchange",
        "EXCHANGE_STAGE": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        **LOCAL_AWS_CREDENTIALS,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports.moto}",
        "DATAAPI_ENDPOINT_URL": f"http://127.0.0.1:{ports.dataapi}",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "COGNITO_USER_POOL_ID": pool_id,
        "COGNITO_CLIENT_ID": client_id,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "EXCHANGE_API_URL": f"http://127.0.0.1:{ports.web}/api",
        "DEMO_DEPOSITS": "on",
    }


def apply_env(env: dict) -> None:
    os.environ.update(env)
    from chalicelib.clients import reset_clients
    from chalicelib.settings import reset_settings

    reset_settings()
    reset_clients()


# -- children -----------------------------------------------------------------------
def spawn(name: str, argv: list[str], state_dir: Path, env: dict, restart: bool = False) -> Child:
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    fh = open(log, "ab")
    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **env}, cwd=str(ROOT), start_new_session=True)
    fh.close()
    return Child(name, proc, log, restart, argv)


def stop_child(child: Child, timeout: float = 10.0) -> None:
    if child.proc.poll() is not None:
        return
    try:
        os.killpg(child.proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        child.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.proc.wait()


# -- AWS stand-ins ------------------------------------------------------------------
def create_aws_resources(endpoint: str) -> tuple[str, str]:
    """Tables, Cognito pool + client and the backup bucket, from the definitions in
    chalicelib (the same ones infra/ deploys).  Returns (pool id, client id)."""
    import boto3

    from chalicelib import resources
    from chalicelib.settings import get_settings
    from chalicelib.tables import create_tables

    kw = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "local",
          "aws_secret_access_key": "local"}
    create_tables(boto3.client("dynamodb", **kw))
    cognito = boto3.client("cognito-idp", **kw)
    pools = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == resources.USER_POOL_NAME]
    pool_id = pools[0]["Id"] if pools else cognito.create_user_pool(**resources.USER_POOL)["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    mine = [c for c in clients if c["ClientName"] == resources.WEB_CLIENT["ClientName"]]
    client_id = mine[0]["ClientId"] if mine else cognito.create_user_pool_client(
        UserPoolId=pool_id, **resources.WEB_CLIENT)["UserPoolClient"]["ClientId"]
    s3 = boto3.client("s3", **kw)
    bucket = get_settings().backup_bucket
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    return pool_id, client_id


def migrate_database(database_url: str) -> list[int]:
    import psycopg

    from chalicelib import accounts
    from chalicelib.db import pg_transaction
    from chalicelib.migrate import migrate
    from chalicelib.symbols import load_catalog

    with psycopg.connect(database_url) as conn:
        applied = migrate(conn)
        with pg_transaction(conn) as tx:
            accounts.sync_assets(tx, load_catalog())
    return applied


# -- commands -----------------------------------------------------------------------
def up(state_dir: Path, ports: Ports, options: Options, as_json: bool = False) -> int:
    state = read_state(state_dir)
    if state and pid_alive(state.get("pid")):
        where = state.get("urls", {}).get("web", "")
        say(f"the exchange is already {state.get('status', 'running')} (pid {state['pid']}) {where}"
            f" — `python -m devstack down` stops it")
        return 1
    for name, port in asdict(ports).items():
        if not port_free(port):
            say(f"error: port {port} ({name}) is busy; choose another with --port/--{name}-port"
                if name != "web" else f"error: port {port} is busy; choose another with --port")
            return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    servers = []
    stopping = {"flag": False}
    urls: dict = {}
    env: dict = {}

    def save_state(status: str) -> None:
        """Written from the start, so that `down` and a second `up` see a starting stack."""
        state_file(state_dir).write_text(json.dumps(
            {"pid": os.getpid(), "status": status, "started": time.time(), "urls": urls, "env": env,
             "children": {c.name: c.proc.pid for c in children}}, indent=2))

    save_state("starting")

    def on_signal(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        say(f"starting the exchange (state in {state_dir})")
        from devstack import postgres as pg
        from devstack import redisserver

        with Step("PostgreSQL" + (" (DATABASE_URL)" if os.environ.get("DATABASE_URL") else " (embedded)")):
            postgres = pg.start(os.environ.get("DATABASE_URL"), state_dir / "pgdata")
            servers.append(postgres)
            database_url = postgres.database_url(os.environ.get("EXCHANGE_DB_NAME", "exchange"))
        with Step("migrations"):
            migrate_database(database_url)
        with Step("Redis" + (" (REDIS_URL)" if os.environ.get("REDIS_URL") else " (embedded)")):
            redis = redisserver.start(os.environ.get("REDIS_URL"), state_dir / "redis")
            servers.append(redis)
        env = stack_env(ports, database_url, redis.url)
        apply_env(env)
        with Step(f"moto server on :{ports.moto}"):
            moto = spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports.moto)],
                         state_dir, {**env, "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true"})
            children.append(moto)
            save_state("starting")
            wait_until(lambda: http_ok(f"http://127.0.0.1:{ports.moto}/moto-api/"), "moto server", child=moto)
        with Step("DynamoDB tables, Cognito pool, S3 bucket"):
            pool_id, client_id = create_aws_resources(env["AWS_ENDPOINT_URL"])
            env = stack_env(ports, database_url, redis.url, pool_id, client_id)
            apply_env(env)
        with Step(f"Aurora Data API on :{ports.dataapi}"):
            dataapi = spawn("dataapi", [sys.executable, "-m", "devstack.dataapi", "--database-url", database_url,
                                        "--host", "127.0.0.1", "--port", str(ports.dataapi)], state_dir, env)
            children.append(dataapi)
            save_state("starting")
            wait_until(lambda: http_ok(f"http://127.0.0.1:{ports.dataapi}/health"), "Data API", child=dataapi)
        if options.demo:
            with Step("demo users and balances"):
                from devstack.demo import seed

                seed()
        with Step(f"web app + API on :{ports.web}"):
            web = spawn("web", [sys.executable, "-m", "devstack.web", "--port", str(ports.web)], state_dir, env)
            children.append(web)
            save_state("starting")
            wait_until(lambda: http_ok(f"http://127.0.0.1:{ports.web}/api/v3/ping"), "web + API", child=web)
        if options.matcher and (ROOT / "matcher" / "__main__.py").exists():
            with Step("matcher"):
                children.append(spawn("matcher", [sys.executable, "-m", "matcher"], state_dir, env, restart=True))
        if options.bot and (ROOT / "devstack" / "marketmaker.py").exists():
            with Step("demo market maker"):
                children.append(spawn("marketmaker", [sys.executable, "-m", "devstack.marketmaker"], state_dir, env,
                                      restart=True))
        urls.update({"web": f"http://127.0.0.1:{ports.web}/", "api": f"http://127.0.0.1:{ports.web}/api/v3",
                "moto": env["AWS_ENDPOINT_URL"], "dataapi": env["DATAAPI_ENDPOINT_URL"],
                "postgres": pg.redact(database_url), "redis": redis.url})
        save_state("running")
        (state_dir / "env").write_text("".join(f"export {k}='{v}'\n" for k, v in env.items()))
        if as_json:
            say(json.dumps({"status": "ready", "urls": urls}))
        else:
            say("the exchange is up:")
            for k, v in urls.items():
                say(f"  {k:<9}{v}")
            say(f"logs in {state_dir / 'logs'}; `source {state_dir / 'env'}` to use the operator CLI;"
                " Ctrl-C or `python -m devstack down` stops everything")
        while not stopping["flag"]:
            for child in children:
                if child.proc.poll() is not None:
                    if child.restart:
                        say(f"{child.name} exited with code {child.proc.returncode}; restarting")
                        children[children.index(child)] = spawn(child.name, child.argv, state_dir, env, restart=True)
                        save_state("running")
                    else:
                        say(f"{child.name} exited with code {child.proc.returncode}; stopping (see {child.log})")
                        stopping["flag"] = True
            time.sleep(0.2)
        return 0
    except StackError as exc:
        say(f"error: {exc}")
        return 1
    except Exception as exc:  # a one-line reason, not a traceback, for the usual failures
        from devstack.postgres import PostgresUnavailable
        from devstack.redisserver import RedisUnavailable

        if isinstance(exc, (PostgresUnavailable, RedisUnavailable)):
            say(f"error: {exc}")
            return 1
        raise
    finally:
        say("stopping ...", end=" ")
        for child in reversed(children):
            stop_child(child)
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the rest
                say(f"({type(server).__name__} stop failed: {exc})", end=" ")
        cur = read_state(state_dir)
        if cur and cur.get("pid") == os.getpid():
            state_file(state_dir).unlink(missing_ok=True)
        say("stopped")


def down(state_dir: Path, timeout: float = 30.0) -> int:
    state = read_state(state_dir)
    if not state:
        say("the exchange is not running")
        return 0
    pid = state.get("pid")
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            say(f"the supervisor (pid {pid}) did not stop within {timeout:.0f} s; killing it")
            os.kill(pid, signal.SIGKILL)
    for name, child_pid in state.get("children", {}).items():  # left behind by a killed supervisor
        if pid_alive(child_pid):
            try:
                os.killpg(child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    state_file(state_dir).unlink(missing_ok=True)
    say("the exchange is stopped")
    return 0


def status(state_dir: Path, as_json: bool = False) -> int:
    state = read_state(state_dir)
    if not state or not pid_alive(state.get("pid")):
        if as_json:
            say(json.dumps({"running": False}))
        else:
            say("the exchange is not running")
        return 3
    if state.get("status") != "running":
        if as_json:
            say(json.dumps({"running": True, "healthy": False, "status": state.get("status"), "pid": state["pid"]}))
        else:
            say(f"the exchange is {state.get('status')} (pid {state['pid']})")
        return 1
    urls = state["urls"]
    checks = {
        "web": http_ok(urls["web"]),
        "api": http_ok(urls["api"] + "/ping"),
        "moto": http_ok(urls["moto"] + "/moto-api/"),
        "dataapi": http_ok(urls["dataapi"] + "/health"),
    }
    children = {name: pid_alive(pid) for name, pid in state.get("children", {}).items()}
    healthy = all(checks.values()) and all(children.values())
    if as_json:
        say(json.dumps({"running": True, "healthy": healthy, "pid": state["pid"], "urls": urls,
                        "checks": checks, "processes": children}))
    else:
        say(f"the exchange is running (pid {state['pid']}), {'healthy' if healthy else 'UNHEALTHY'}")
        for name, ok in checks.items():
            say(f"  {name:<9}{'ok  ' if ok else 'DOWN'}  {urls[name]}")
        for name, alive in children.items():
            say(f"  {name:<9}{'running' if alive else 'EXITED'}")
    return 0 if healthy else 1
