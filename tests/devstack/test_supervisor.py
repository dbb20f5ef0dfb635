"""The supervisor's rules on small real processes: a dead process is started again after
a back-off that doubles while it keeps dying, its dependents are restarted after it,
what a fresh instance needs runs before they are, and stopping stops everything."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time

from devstack.stack import BACKOFF_FIRST, ChildProcess, Service, Supervisor


def sleeper(tmp_path, name: str, argv=None):
    log = tmp_path / f"{name}.log"
    argv = argv or [sys.executable, "-c", "import time; time.sleep(60)"]
    return Service(name, lambda: ChildProcess(argv, log, {}), lambda: True, log)


def watch_until(sup: Supervisor, check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.watch()
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_killed_process_restarts_with_its_dependents_after_it(tmp_path):
    calls = []
    out = io.StringIO()
    sup = Supervisor(lambda: None)
    base = sleeper(tmp_path, "base")
    base.after_restart = lambda: calls.append(("after_restart", dep.proc.pid))
    base.after_dependents = lambda: calls.append(("after_dependents", dep.proc.pid))
    base.dependents = ("dep",)
    dep = sleeper(tmp_path, "dep")
    with contextlib.redirect_stdout(out):
        sup.start(base)
        sup.start(dep)
        old_base, old_dep = base.proc.pid, dep.proc.pid
        os.kill(old_base, signal.SIGKILL)
        t0 = time.monotonic()
        watch_until(sup, lambda: base.restarts == 1 and dep.restarts == 1)
        took = time.monotonic() - t0
        sup.stop_all()
    assert base.proc.pid != old_base and dep.proc.pid != old_dep
    assert BACKOFF_FIRST <= took < 5, took
    # the fresh base was prepared while the old dependent still ran; users re-linked after
    assert calls == [("after_restart", old_dep), ("after_dependents", dep.proc.pid)]
    lines = out.getvalue().splitlines()
    assert any("base was killed by SIGKILL" in line and "restarting in 0.2 s" in line for line in lines), lines
    assert any("restarting dep: it depends on base" in line for line in lines), lines
    assert base.proc.poll() is not None and dep.proc.poll() is not None  # stop_all stopped both


def test_crash_loop_backs_off_doubling(tmp_path):
    out = io.StringIO()
    sup = Supervisor(lambda: None)
    crashing = sleeper(tmp_path, "crashy", [sys.executable, "-c", "import sys; sys.exit(3)"])
    with contextlib.redirect_stdout(out):
        sup.services[crashing.name] = crashing  # started without waiting: it dies at once
        crashing.proc = crashing.launch()
        crashing.started = time.monotonic()
        watch_until(sup, lambda: crashing.restarts >= 3 and crashing.due is not None, timeout=15)
        sup.stop_all()
    waits = [float(line.rsplit("restarting in ", 1)[1].split()[0]) for line in out.getvalue().splitlines()
             if "crashy exited with code 3" in line]
    assert waits[:4] == [0.2, 0.4, 0.8, 1.6], out.getvalue()
