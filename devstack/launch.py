"""Start the local stack in the background and wait for its ready message: the one
way the web tests, the devstack tests and ``scripts/screenshots.py`` start it."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .stack import READY_LAST, READY_LINE

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Launched:
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)  # what `up` printed up to its ready message

    @property
    def up(self) -> bool:
        return any(line.startswith(READY_LINE) for line in self.lines)


def launch(state_dir: str | Path, port: int, env: dict, *args: str, timeout_s: float = 150) -> Launched:
    """``python -m devstack --state-dir D up --port P [args]`` in the background, read
    until the last line of its ready message (or its end, or ``timeout_s``); the caller
    checks :attr:`Launched.up` and stops it with ``down``."""
    proc = subprocess.Popen([sys.executable, "-m", "devstack", "--state-dir", str(state_dir), "up", "--port",
                             str(port), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = Launched(proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        out.lines.append(line)
        if line.startswith(READY_LAST):
            break
    return out
