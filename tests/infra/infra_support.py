"""Constants and helpers the infra tests share (a module of its own: ``conftest`` is
not a name to import from when several test folders have one)."""
from __future__ import annotations

ACCOUNT = "123456789012"          # also moto's default account: local ARNs match the templates'
REGION = "us-east-1"
API_DOMAIN = "abc123defg.execute-api.us-east-1.amazonaws.com"
# What `cdk deploy` looks up for the account and region (cached in cdk.context.json):
# the VPC takes its AZs from the stack's environment, never from a hard-coded list.
AZS = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
CONTEXT = {f"availability-zones:account={ACCOUNT}:region={REGION}": AZS}
