"""Starting, watching and stopping the local stack (see ``devstack/__main__.py``)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".devstack"
LOCAL_AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}

# The ready message's first line and the start of its last one: what a caller that
# starts `up` in the background waits for (devstack.launch).
READY_LINE = "the exchange is up"
READY_LAST = "logs in"


@dataclass(frozen=True)
class Ports:
    web: int = 8000
    moto: int = 8001
    dataapi: int = 8002
    gateway: int = 8003  # the stream gateway, internal: clients reach it through the web port


@dataclass(frozen=True)
class Options:
    demo: bool = True
    matcher: bool = True
    bot: bool = True


def matcher_services() -> tuple[str, ...]:
    """The matcher processes: "matcher" serves group 0, "matcher-g<n>" group n."""
    from chalicelib.symbols import load_catalog

    return ("matcher", *(f"matcher-g{g}" for g in range(1, load_catalog().groups)))


class StackError(RuntimeError):
    """A one-line reason the stack cannot start."""


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


def write_atomically(path: Path, text: str) -> None:
    """Readers (`status`, `down`, the operator CLI) never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


def wait_until(check, what: str, timeout: float = 30.0, child: Service | None = None,
               stop=lambda: False) -> None:
    """Poll ``check`` until true; fail early with the log's tail if ``child`` exits,
    and at once if ``stop()`` (Ctrl-C during a start or restart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if stop():
            raise StackError(f"stopping while waiting for {what}")
        if child is not None and child.proc is not None and child.proc.poll() is not None:
            tail = child.log.read_text(errors="replace").strip().splitlines()[-5:] if child.log.exists() else []
            raise StackError(f"{what} {describe_exit(child.proc.poll())}: " + " | ".join(tail))
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
        # locally an idle stream costs nothing: no idle back-off, so the first order after
        # a quiet spell is matched as fast as any (in AWS it backs off to save stream reads)
        "MATCHER_IDLE_POLL_MS": "50",
    }


def apply_env(env: dict) -> None:
    os.environ.update(env)
    from chalicelib.clients import reset_clients
    from chalicelib.settings import reset_settings

    reset_settings()
    reset_clients()


# -- supervised processes -----------------------------------------------------------
BACKOFF_FIRST = 0.2   # s before restarting a process that died
BACKOFF_MAX = 10.0    # the wait doubles with each quick death or failed restart, up to this
STABLE_AFTER = 30.0   # a process up this long is healthy again: its next restart waits BACKOFF_FIRST
RESTART_TIMEOUT = 60.0  # a restarted process not healthy by then is started again
# a running process restarted with others (its upstream came back: it holds dead connections)
# gets this long after SIGTERM before SIGKILL; killing it is safe (restart is normal) and a
# process stuck on a dead server must not hold the whole stack's recovery for 10 s
RESTART_GRACE = 2.0


class ChildProcess:
    """A process the stack starts itself, in its own session: Ctrl-C in the terminal
    reaches only the supervisor, which then stops the children in order."""

    def __init__(self, argv: list[str], log: Path, env: dict):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            self.popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env={**os.environ, **env}, cwd=str(ROOT), start_new_session=True)
        self.pid = self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM to its group) without waiting; ``stop`` waits."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, and SIGKILL if it is still there after ``timeout`` seconds.  True if
        it had to be killed."""
        if self.popen.poll() is not None:
            return False
        self.terminate()
        try:
            self.popen.wait(timeout)
            return False
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait()
            return True


def become_subreaper() -> bool:
    """Make the supervisor the reaper of its processes' orphans (Linux): pg_ctl leaves
    the postmaster behind as one.  Reaped here (:func:`reap_orphans`) a killed
    postmaster is gone at once instead of lingering as a zombie until init gets to it,
    during which PostgreSQL refuses to start again ("is another postmaster running?")."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans(own: set[int]) -> None:
    """Reap exited processes adopted as orphans (never one a Popen in ``own`` waits for)."""
    me = os.getpid()
    try:  # our children only (CONFIG_PROC_CHILDREN); else every process
        pids = {int(p) for task in os.listdir(f"/proc/{me}/task")
                for p in Path(f"/proc/{me}/task/{task}/children").read_text().split()}
    except OSError:
        try:
            pids = {int(e) for e in os.listdir("/proc") if e.isdigit()}
        except OSError:
            return
    for pid in pids:
        if pid in own:
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


class Postmaster:
    """The embedded PostgreSQL server as a supervised process.  pg_ctl daemonises it,
    so it is watched through its pid and started again through pgserver; it is
    stopped with the server handle when the stack stops, not here."""

    def __init__(self, postgres):
        self.pid = postgres.pid

    def poll(self) -> int | None:
        return None if pid_alive(self.pid) else -1

    def terminate(self) -> None:
        pass

    def stop(self, timeout: float = 10.0) -> bool:
        return False


@dataclass
class Service:
    """One long-lived process of the stack and how to bring it back."""

    name: str
    launch: Callable[[], ChildProcess | Postmaster]
    ready: Callable[[], bool]
    log: Path
    after_restart: Callable[[], None] | None = None  # what a fresh instance needs (moto: tables, pool)
    after_dependents: Callable[[], None] | None = None  # then, once its dependents are back (moto: users)
    # restarted once this one is back (they hold its connections or ids); a callable is asked each time
    dependents: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    # stopped in tiers, each tier's processes together (SIGTERM to all, then wait): 0 the
    # clients of the whole stack (the market maker cancels its orders), 1 the apps, 2 the
    # servers the apps need to stop cleanly (their leases, their connections)
    stop_tier: int = 1
    proc: ChildProcess | Postmaster | None = None
    restarts: int = 0
    started: float = 0.0
    backoff: float = BACKOFF_FIRST
    due: float | None = None  # a restart is scheduled for this monotonic time


def describe_exit(code: int | None) -> str:
    if code is None or code == -1:
        return "is gone"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Keeps every long-lived process of the stack running: a process that dies is
    started again after a back-off (doubling while it keeps dying, reset once it has
    stayed up), made ready (moto gets its tables and Cognito pool again), and the
    processes that depend on it are restarted after it.  Only ``stop()`` (Ctrl-C,
    SIGTERM, ``down``) ends it."""

    def __init__(self, on_change: Callable[[], None]):
        self.services: dict[str, Service] = {}
        self.stopping = False
        self.on_change = on_change

    def start(self, svc: Service, timeout: float = 60.0) -> None:
        """The first start (no back-off): launch and wait until ready."""
        self.services[svc.name] = svc
        svc.proc = svc.launch()
        svc.started = time.monotonic()
        self.on_change()
        wait_until(svc.ready, svc.name, timeout, child=svc, stop=lambda: self.stopping)

    def watch(self) -> None:
        """One look at every process: schedule restarts of the dead, run those due."""
        reap_orphans({s.proc.pid for s in self.services.values() if isinstance(s.proc, ChildProcess)})
        now = time.monotonic()
        for svc in list(self.services.values()):
            if svc.due is None and svc.proc is not None and svc.proc.poll() is not None:
                up_for = now - svc.started
                if up_for >= STABLE_AFTER:
                    svc.backoff = BACKOFF_FIRST
                say(f"{clock()} {svc.name} {describe_exit(svc.proc.poll())} after {up_for:.1f} s;"
                    f" restarting in {svc.backoff:.1f} s")
                svc.due = now + svc.backoff
                svc.backoff = min(svc.backoff * 2, BACKOFF_MAX)
                self.on_change()
        for svc in list(self.services.values()):
            if svc.due is not None and time.monotonic() >= svc.due and not self.stopping:
                self.restart(svc)

    def restart(self, svc: Service) -> None:
        self.restart_group([svc])

    def restart_group(self, group: list[Service]) -> None:
        """Start ``group`` again together (stopped first if still running), wait until
        each is ready, then restart whatever depends on those that came back."""
        t0 = time.monotonic()
        for svc in group:
            if svc.proc is not None:
                svc.proc.terminate()
        launched = []
        for svc in group:
            try:
                if svc.proc is not None and svc.proc.stop(RESTART_GRACE):
                    say(f"{clock()} {svc.name} did not stop within {RESTART_GRACE:.0f} s of SIGTERM; killed it")
                svc.proc = svc.launch()
                svc.started = time.monotonic()
                svc.due = None
                launched.append(svc)
            except Exception as exc:
                self._failed(svc, exc)
        self.on_change()
        back = []
        for svc in launched:
            try:
                wait_until(svc.ready, svc.name, RESTART_TIMEOUT, child=svc, stop=lambda: self.stopping)
                if svc.after_restart is not None:
                    svc.after_restart()
            except Exception as exc:
                self._failed(svc, exc)
                continue
            svc.restarts += 1
            back.append(svc)
            say(f"{clock()} {svc.name} is back (pid {svc.proc.pid if svc.proc else '?'}, restart {svc.restarts},"
                f" {time.monotonic() - t0:.1f} s)")
        self.on_change()
        for svc in back:
            names = svc.dependents() if callable(svc.dependents) else svc.dependents
            # a dependent waiting out a back-off (it died while this one was down) starts now:
            # what it waited for is back
            deps = [self.services[n] for n in names if n in self.services]
            for dep in deps:
                if dep.due is not None:
                    dep.backoff = BACKOFF_FIRST
            if deps and not self.stopping:
                verb = "it depends" if len(deps) == 1 else "they depend"
                say(f"{clock()} restarting {', '.join(d.name for d in deps)}: {verb} on {svc.name}")
                self.restart_group(deps)
            if svc.after_dependents is not None and not self.stopping:
                try:
                    svc.after_dependents()
                except Exception as exc:
                    say(f"{clock()} after {svc.name} restart: {first_line(exc)}")

    def _failed(self, svc: Service, exc: Exception) -> None:
        if self.stopping:
            return
        say(f"{clock()} {svc.name} restart failed ({first_line(exc)}); retrying in {svc.backoff:.1f} s")
        svc.due = time.monotonic() + svc.backoff
        svc.backoff = min(svc.backoff * 2, BACKOFF_MAX)
        self.on_change()

    def stop_all(self) -> None:
        """Stop every process, the last started first."""
        self.stopping = True
        running = [(svc, svc.proc) for svc in reversed(list(self.services.values())) if svc.proc is not None]
        for tier in sorted({svc.stop_tier for svc, _ in running}):
            together = [(svc, proc) for svc, proc in running if svc.stop_tier == tier]
            t0 = time.monotonic()
            for _, proc in together:
                proc.terminate()
            for svc, proc in together:
                killed = proc.stop()
                took = time.monotonic() - t0
                if killed or took > 2.0:
                    say(f"  {svc.name} {'was killed after' if killed else 'stopped in'} {took:.1f} s")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def clock() -> str:
    return time.strftime("%H:%M:%S")


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
def redis_socket_path(state_dir: Path) -> Path:
    """The embedded Redis's socket: in the state dir unless that path is too long for a
    Unix socket (then a private temp folder); fixed for the stack's lifetime."""
    path = state_dir / "redis" / "redis.sock"
    if len(str(path)) < 100:
        return path
    import tempfile

    return Path(tempfile.mkdtemp(prefix="exchange-redis-")) / "redis.sock"


def redis_ready(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def postgres_ready(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def refuse_to_start(state_dir: Path, ports: Ports) -> int | None:
    """The exit code when ``up`` must not start (already running, a port busy), else None."""
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
    return None


class LocalStack:
    """The processes of one ``up``, started in dependency order under a
    :class:`Supervisor`; each start registers its own teardown on the ExitStack
    given to :meth:`start`."""

    def __init__(self, state_dir: Path, ports: Ports, options: Options):
        self.state_dir, self.ports, self.options = state_dir, ports, options
        self.logs = state_dir / "logs"
        self.urls: dict = {}
        self.env: dict = {}  # the children's settings; updated in place when moto comes back with a new pool
        self.status = "starting"
        self.started = time.time()
        self.database_url = self.redis_url = ""
        self.auth_ids_changed = False  # moto came back with other Cognito ids: the web app needs them
        self.sup = Supervisor(self.save_state)

    # -- state ------------------------------------------------------------------------
    def save_state(self) -> None:
        """Written from the start and on every restart, so that `down`, `status` and a
        second `up` see what runs."""
        services = self.sup.services.values()
        procs = {s.name: {"pid": s.proc.pid if s.proc else None, "restarts": s.restarts,
                          "restarting": s.due is not None, "log": str(s.log)} for s in services}
        write_atomically(state_file(self.state_dir), json.dumps(
            {"pid": os.getpid(), "status": self.status, "started": self.started, "urls": self.urls,
             "env": self.env, "processes": procs,
             "children": {s.name: s.proc.pid for s in services if isinstance(s.proc, ChildProcess)}},
            indent=2))
        if self.env:
            write_atomically(self.state_dir / "env", "".join(f"export {k}='{v}'\n" for k, v in self.env.items()))

    def forget_state(self) -> None:
        cur = read_state(self.state_dir)
        if cur and cur.get("pid") == os.getpid():
            state_file(self.state_dir).unlink(missing_ok=True)

    def child(self, name: str, argv: list[str], extra: dict | None = None) -> Callable[[], ChildProcess]:
        return lambda: ChildProcess(argv, self.logs / f"{name}.log", {**self.env, **(extra or {})})

    # -- the start, in order -------------------------------------------------------------
    def start(self, teardown: contextlib.ExitStack) -> None:
        """Start everything; what is started is stopped by ``teardown``: the supervised
        processes (last started first), then the servers and folders set up here."""
        say(f"starting the exchange (state in {self.state_dir})")
        resources = teardown.enter_context(contextlib.ExitStack())  # closed after the processes stop
        teardown.callback(self.sup.stop_all)
        self.start_postgres(resources)
        with Step("migrations"):
            migrate_database(self.database_url)
        self.start_redis(resources)
        self.env.update(stack_env(self.ports, self.database_url, self.redis_url))
        apply_env(self.env)
        self.start_moto()
        with Step("DynamoDB tables, Cognito pool, S3 bucket"):
            self.provision_aws()
        self.start_dataapi()
        self.start_gateway()
        if self.options.demo:
            with Step("demo users and balances"):
                self.seed_demo()
        self.start_web()
        if self.options.matcher and (ROOT / "matcher" / "__main__.py").exists():
            self.start_matcher()
        if self.options.bot and (ROOT / "devstack" / "marketmaker.py").exists():
            self.start_marketmaker()

    def start_postgres(self, resources: contextlib.ExitStack) -> None:
        from devstack import postgres as pg

        with Step("PostgreSQL" + (" (DATABASE_URL)" if os.environ.get("DATABASE_URL") else " (embedded)")):
            postgres = pg.start(os.environ.get("DATABASE_URL"), self.state_dir / "pgdata")
            resources.callback(stop_server, postgres)
            self.database_url = url = postgres.database_url(os.environ.get("EXCHANGE_DB_NAME", "exchange"))
            if postgres.embedded is not None:  # already running: watched from here on
                self.sup.start(Service("postgres", lambda: restarted_postmaster(postgres),
                                       lambda: postgres_ready(url), self.state_dir / "pgdata" / "log",
                                       dependents=("dataapi", *matcher_services()), stop_tier=2))

    def start_redis(self, resources: contextlib.ExitStack) -> None:
        from devstack import redisserver

        with Step("Redis" + (" (REDIS_URL)" if os.environ.get("REDIS_URL") else " (embedded)")):
            if os.environ.get("REDIS_URL"):
                self.redis_url = redisserver.start(os.environ["REDIS_URL"], self.state_dir / "redis").url
                return
            sock = redis_socket_path(self.state_dir)
            sock.parent.mkdir(parents=True, exist_ok=True)
            if sock.parent != self.state_dir / "redis":  # a temp folder of ours: removed on stop
                resources.callback(shutil.rmtree, sock.parent, ignore_errors=True)
            self.redis_url = url = f"unix://{sock}?db=0"
            # a Redis back from a crash holds its last dump, older than what was published:
            # the matcher, restarted, publishes every book again (and drops trades ahead)
            self.sup.start(Service("redis", self.child("redis", redisserver.embedded_argv(self.state_dir / "redis",
                                                                                          sock)),
                                   lambda: redis_ready(url), self.logs / "redis.log", dependents=matcher_services(),
                                   stop_tier=2))

    def provision_aws(self) -> None:
        """Tables, Cognito pool + client, bucket; the children get the pool's ids."""
        pool_id, client_id = create_aws_resources(self.env["AWS_ENDPOINT_URL"])
        self.auth_ids_changed = (pool_id, client_id) != (self.env.get("COGNITO_USER_POOL_ID"),
                                                         self.env.get("COGNITO_CLIENT_ID"))
        self.env.update(stack_env(self.ports, self.database_url, self.redis_url, pool_id, client_id))
        apply_env(self.env)

    def after_moto(self) -> tuple[str, ...]:
        """A new moto has empty tables and streams: the matcher rebuilds from PostgreSQL.
        The pool and client ids are hashes of their definitions (moto's HASH id
        strategy), so the web app + API keeps running unless they changed."""
        return ("web", *matcher_services()) if self.auth_ids_changed else matcher_services()

    def seed_demo(self) -> None:
        """The demo users and balances; after a moto restart, their new identities
        (moto keeps Cognito in memory) linked to their accounts (balances are in
        PostgreSQL)."""
        if self.options.demo:
            from devstack.demo import seed

            seed()

    def start_moto(self) -> None:
        moto = self.ports.moto
        with Step(f"moto server on :{moto}"):
            argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto)]
            env = {"MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
                   "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
                   "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH"}
            self.sup.start(Service("moto", self.child("moto", argv, env),
                                   lambda: http_ok(f"http://127.0.0.1:{moto}/moto-api/"), self.logs / "moto.log",
                                   after_restart=self.provision_aws, dependents=self.after_moto,
                                   after_dependents=self.seed_demo, stop_tier=2))

    def start_dataapi(self) -> None:
        port = self.ports.dataapi
        with Step(f"Aurora Data API on :{port}"):
            argv = [sys.executable, "-m", "devstack.dataapi", "--database-url", self.database_url,
                    "--host", "127.0.0.1", "--port", str(port)]
            self.sup.start(Service("dataapi", self.child("dataapi", argv),
                                   lambda: http_ok(f"http://127.0.0.1:{port}/health"), self.logs / "dataapi.log",
                                   stop_tier=2))

    def start_gateway(self) -> None:
        port = self.ports.gateway
        with Step(f"stream gateway on :{port}"):
            # stateless: a Redis outage it rides out by itself (it re-subscribes and re-reads
            # every book), so it is not among Redis's dependents
            argv = [sys.executable, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)]
            self.sup.start(Service("gateway", self.child("gateway", argv),
                                   lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), self.logs / "gateway.log"))

    def start_web(self) -> None:
        port = self.ports.web
        with Step(f"web app + API on :{port}"):
            argv = [sys.executable, "-m", "devstack.web", "--port", str(port),
                    "--gateway-port", str(self.ports.gateway)]
            self.sup.start(Service("web", self.child("web", argv),
                                   lambda: http_ok(f"http://127.0.0.1:{port}/api/v3/ping"), self.logs / "web.log"))

    def start_matcher(self) -> None:
        names = matcher_services()
        with Step("matcher" if len(names) == 1 else f"{len(names)} matcher groups"):
            # one process per matcher group (symbols.json matcherGroups; EXCHANGE_SYMBOLS_FILE names
            # another file), each with a stable worker id: a restarted matcher reclaims its own leases
            for group, name in enumerate(names):
                extra = {"MATCHER_WORKER_ID": f"devstack-{name}", "MATCHER_GROUP": str(group)}
                self.sup.start(Service(name, self.child(name, [sys.executable, "-m", "matcher"], extra),
                                       lambda: True, self.logs / f"{name}.log"))

    def start_marketmaker(self) -> None:
        with Step("demo market maker"):
            self.sup.start(Service("marketmaker",
                                   self.child("marketmaker", [sys.executable, "-m", "devstack.marketmaker"]),
                                   lambda: True, self.logs / "marketmaker.log", stop_tier=0))

    # -- running ----------------------------------------------------------------------
    def announce(self, as_json: bool) -> None:
        from devstack.postgres import redact

        web = f"127.0.0.1:{self.ports.web}"
        self.urls.update({"web": f"http://{web}/", "api": f"http://{web}/api/v3", "ws": f"ws://{web}/ws",
                          "stream": f"ws://{web}/stream", "ws-api": f"ws://{web}/ws-api/v3",
                          "moto": self.env["AWS_ENDPOINT_URL"], "dataapi": self.env["DATAAPI_ENDPOINT_URL"],
                          "gateway": f"http://127.0.0.1:{self.ports.gateway}",
                          "postgres": redact(self.database_url), "redis": self.redis_url})
        self.status = "running"
        self.save_state()
        if as_json:
            say(json.dumps({"status": "ready", "urls": self.urls}))
            return
        say(f"{READY_LINE}:")
        for k, v in self.urls.items():
            say(f"  {k:<9}{v}")
        say(f"{READY_LAST} {self.logs}; `source {self.state_dir / 'env'}` to use the operator CLI;"
            " Ctrl-C or `python -m devstack down` stops everything")

    def supervise(self) -> None:
        """Keep everything running until Ctrl-C / SIGTERM / ``down``."""
        while not self.sup.stopping:
            self.sup.watch()
            time.sleep(0.2)


def restarted_postmaster(postgres: Any) -> Postmaster:
    postgres.ensure_running()
    return Postmaster(postgres)


def stop_server(server: Any) -> None:
    try:
        server.stop()
    except Exception as exc:  # keep stopping the rest
        say(f"({type(server).__name__} stop failed: {exc})", end=" ")


def up(state_dir: Path, ports: Ports, options: Options, as_json: bool = False) -> int:
    refused = refuse_to_start(state_dir, ports)
    if refused is not None:
        return refused
    state_dir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(state_dir, ports, options)
    stack.save_state()
    become_subreaper()

    def on_signal(signum, frame):
        stack.sup.stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with contextlib.ExitStack() as teardown:
        teardown.callback(say, "stopped")
        teardown.callback(stack.forget_state)
        try:
            stack.start(teardown)
            stack.announce(as_json)
            stack.supervise()
            return 0
        except StackError as exc:
            if not stack.sup.stopping:
                say(f"error: {exc}")
                return 1
            return 0
        except Exception as exc:  # a one-line reason, not a traceback, for the usual failures
            from devstack.postgres import PostgresUnavailable
            from devstack.redisserver import RedisUnavailable

            if isinstance(exc, (PostgresUnavailable, RedisUnavailable)):
                say(f"error: {exc}")
                return 1
            raise
        finally:
            say("stopping ...")


def down(state_dir: Path, timeout: float = 30.0) -> int:
    state = read_state(state_dir)
    if not state:
        say("the exchange is not running")
        return 0
    pid = state.get("pid")
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            say(f"the supervisor (pid {pid}) did not stop within {timeout:.0f} s; killing it")
            os.kill(pid, signal.SIGKILL)
    for child_pid in state.get("children", {}).values():  # left behind by a killed supervisor
        if pid_alive(child_pid):
            try:
                os.killpg(child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    postmaster = state.get("processes", {}).get("postgres", {}).get("pid")
    if pid_alive(postmaster):  # embedded PostgreSQL left behind: its fast shutdown
        os.kill(postmaster, signal.SIGINT)
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
    if "gateway" in urls:  # 503 until its Redis subscription is live
        checks["gateway"] = http_ok(urls["gateway"] + "/healthz")
    procs = {name: {"pid": p.get("pid"), "running": pid_alive(p.get("pid")), "restarts": p.get("restarts", 0)}
             for name, p in state.get("processes", {}).items()}
    healthy = all(checks.values()) and all(p["running"] for p in procs.values())
    if as_json:
        say(json.dumps({"running": True, "healthy": healthy, "pid": state["pid"], "urls": urls,
                        "checks": checks, "processes": procs}))
    else:
        say(f"the exchange is running (pid {state['pid']}), {'healthy' if healthy else 'UNHEALTHY'}")
        for name, ok in checks.items():
            say(f"  {name:<12}{'ok  ' if ok else 'DOWN'}  {urls[name]}")
        say("processes:")
        for name, p in procs.items():
            restarts = f", restarted {p['restarts']}x" if p["restarts"] else ""
            say(f"  {name:<12}{'running' if p['running'] else 'RESTARTING'} (pid {p['pid']}{restarts})")
    return 0 if healthy else 1
