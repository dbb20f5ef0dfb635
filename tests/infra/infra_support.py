"""Constants and helpers the infra tests share (a module of its own: ``conftest`` is
not a name to import from when several test folders have one)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

ACCOUNT = "123456789012"          # also moto's default account: local ARNs match the templates'
REGION = "us-east-1"
API_DOMAIN = "abc123defg.execute-api.us-east-1.amazonaws.com"
# What `cdk deploy` looks up for the account and region (cached in cdk.context.json):
# the VPC takes its AZs from the stack's environment, never from a hard-coded list.
AZS = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
CONTEXT = {f"availability-zones:account={ACCOUNT}:region={REGION}": AZS}

PROD_GROUPS = 2


def two_group_symbols(directory: Path) -> Path:
    """The default symbols file with ``matcherGroups`` 2 and BTCUSDT pinned to group 0."""
    from chalicelib.symbols import write_grouped

    return write_grouped(directory / "symbols.json", PROD_GROUPS, {"BTCUSDT": 0})


@contextlib.contextmanager
def symbols_file(path: Path | None):
    old = os.environ.get("EXCHANGE_SYMBOLS_FILE")
    if path is not None:
        os.environ["EXCHANGE_SYMBOLS_FILE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("EXCHANGE_SYMBOLS_FILE", None)
        else:
            os.environ["EXCHANGE_SYMBOLS_FILE"] = old
