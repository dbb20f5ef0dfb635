"""The local stack's up/status/down, as a user runs them, in a scratch state dir."""
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devstack.launch import launch
from tests.conftest import free_port_block

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {"BTCUSDT": 0, "ETHUSDT": 1}


def devstack(state_dir, *args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(state_dir), *args],
                          cwd=ROOT, env=env or os.environ.copy(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def running_stack(original_env, make_scratch_dir):
    import shutil

    from chalicelib.symbols import write_grouped

    state_dir = make_scratch_dir("exchange-stack-test-")
    port = free_port_block(below_ephemeral=True)  # no outgoing connection of another lane can take one
    # two matcher groups (issue 14): BTCUSDT in "matcher", ETHUSDT in "matcher-g1", ETHBTC by hash
    env = dict(original_env, EXCHANGE_SYMBOLS_FILE=str(write_grouped(state_dir / "symbols.json", 2, GROUPS)))
    launched = launch(state_dir, port, env, "--no-bot", timeout_s=120)
    proc, lines = launched.proc, launched.lines
    assert launched.up, "".join(lines)
    yield {"dir": state_dir, "port": port, "proc": proc, "env": env, "lines": lines}
    if proc.poll() is None:
        devstack(state_dir, "down", env=env)
        proc.wait(30)
    shutil.rmtree(state_dir, ignore_errors=True)


def test_up_prints_healthy_urls_and_serves_api_and_web(running_stack):
    port = running_stack["port"]
    out = "".join(running_stack["lines"])
    assert f"http://127.0.0.1:{port}/api/v3" in out
    assert f"ws://127.0.0.1:{port}/ws" in out and f"ws://127.0.0.1:{port}/stream" in out
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v3/ping", timeout=5) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert resp.status == 200 and b"<html" in resp.read().lower()


def test_status_reports_every_part_healthy(running_stack):
    res = devstack(running_stack["dir"], "status", "--json", env=running_stack["env"])
    assert res.returncode == 0, res.stdout + res.stderr
    status = json.loads(res.stdout)
    assert status["healthy"] and all(status["checks"].values())
    assert {"moto", "dataapi", "web", "gateway", "matcher", "matcher-g1"} <= set(status["processes"])


def test_two_matcher_groups_and_a_symbol_moved_between_them(running_stack):
    """One matcher process per group; the operator CLI moves ETHBTC to the other group
    and that group's process takes it (a new fencing token)."""
    from chalicelib.symbols import load_catalog

    env = dict(running_stack["env"], EXCHANGE_STATE_DIR=str(running_stack["dir"]))
    other = 1 - load_catalog(env["EXCHANGE_SYMBOLS_FILE"]).group_of("ETHBTC")
    res = subprocess.run([sys.executable, "-m", "chalicelib.cli", "--json", "move-symbol", "ETHBTC", str(other),
                          "--timeout", "60"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stdout + res.stderr
    moved = json.loads(res.stdout)
    assert moved["moved"] and moved["toGroup"] == other and moved["fencingToken"] > 0
    assert moved["owner"] == ("devstack-matcher" if other == 0 else "devstack-matcher-g1")


def test_second_up_says_so_instead_of_fighting(running_stack):
    res = devstack(running_stack["dir"], "up", "--port", str(running_stack["port"]), env=running_stack["env"])
    assert res.returncode == 1
    assert "already running" in res.stdout


def test_operator_cli_sees_demo_users_through_the_stack(running_stack):
    env = dict(running_stack["env"], EXCHANGE_STATE_DIR=str(running_stack["dir"]))
    res = subprocess.run([sys.executable, "-m", "chalicelib.cli", "--json", "balances", "alice@demo.local"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    balances = {b["asset"]: b for b in json.loads(res.stdout)["balances"]}
    assert balances["USDT"]["free"] == "100000.00000000"


def test_down_stops_everything(running_stack):
    state = json.loads((running_stack["dir"] / "stack.json").read_text())
    res = devstack(running_stack["dir"], "down", env=running_stack["env"])
    assert res.returncode == 0 and "stopped" in res.stdout
    assert running_stack["proc"].wait(30) == 0
    for pid in state["children"].values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    res = devstack(running_stack["dir"], "status", env=running_stack["env"])
    assert res.returncode == 3 and "not running" in res.stdout


def test_busy_port_is_a_one_line_error(tmp_path, original_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = devstack(tmp_path, "up", "--port", str(port), env=original_env)
    assert res.returncode == 2
    assert res.stdout.strip() == f"error: port {port} is busy; choose another with --port"


def test_unreachable_database_url_is_a_one_line_error(tmp_path, original_env):
    port = free_port_block(below_ephemeral=True)  # no outgoing connection of another lane can take one
    env = dict(original_env, DATABASE_URL=f"postgresql://nobody@127.0.0.1:{port}/nothing")
    res = devstack(tmp_path, "up", "--port", str(port), env=env)
    assert res.returncode == 1
    errors = [line for line in res.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach PostgreSQL" in errors[0], res.stdout
