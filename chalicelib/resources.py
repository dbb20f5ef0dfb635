"""Definitions of the non-table AWS resources the code relies on (Cognito user pool
and app client, the backup bucket), in one place.

The local stack creates them in moto from these values and ``infra/`` turns the same
values into CDK constructs, so the pool the tests sign in to has the password policy,
MFA mode and token lifetimes that production has.
"""
from __future__ import annotations

from typing import TypedDict

USER_POOL_NAME = "exchange-users"

PASSWORD_POLICY = {
    "MinimumLength": 10,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
    "TemporaryPasswordValidityDays": 3,
}

# OPTIONAL: users may enrol a TOTP authenticator; a stage may set ON (see infra/).
MFA_CONFIGURATION = "OPTIONAL"

USER_POOL = {
    "PoolName": USER_POOL_NAME,
    "Policies": {"PasswordPolicy": PASSWORD_POLICY},
    "UsernameAttributes": ["email"],
    "AutoVerifiedAttributes": ["email"],
    "MfaConfiguration": MFA_CONFIGURATION,
    "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
}

class WebClient(TypedDict):
    """The keyword arguments of Cognito's CreateUserPoolClient that the web client sets."""

    ClientName: str
    GenerateSecret: bool
    ExplicitAuthFlows: list[str]
    AccessTokenValidity: int
    IdTokenValidity: int
    RefreshTokenValidity: int
    TokenValidityUnits: dict[str, str]
    PreventUserExistenceErrors: str


# The web app's public client: SRP and refresh for browsers, USER_PASSWORD_AUTH for
# the operator CLI and tests (no client secret: it ships in a browser).
WEB_CLIENT: WebClient = {
    "ClientName": "exchange-web",
    "GenerateSecret": False,
    "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    "AccessTokenValidity": 60,
    "IdTokenValidity": 60,
    "RefreshTokenValidity": 30,
    "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
    "PreventUserExistenceErrors": "ENABLED",
}

# Objects in the backup bucket: exports of Aurora and DynamoDB, kept then expired.
BACKUP_LIFECYCLE_DAYS = {"to_glacier": 30, "expire": 365}
