"""Operator actions: create users, credit deposits, issue API keys, read balances.

The operator CLI (``python -m chalicelib.cli``), the local stack's demo seeding and the
tests call these; they go through the same domain code and the same Data API
transactions as the API does.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from chalicelib import accounts, apikeys, funds, ledger, userevents
from chalicelib.clients import Clients, get_clients
from chalicelib.db import autocommit, transaction
from chalicelib.errors import ExchangeError, Failure, Reason


@dataclass(frozen=True)
class User:
    account_id: int
    username: str
    cognito_sub: str | None


def _cognito_user(clients: Clients, email: str, password: str | None) -> str | None:
    """Create the Cognito user (or find it); return its ``sub``.  None if no pool is
    configured (then the account exists without a web sign-in)."""
    pool = clients.settings.cognito_user_pool_id
    if not pool:
        return None
    cognito = clients.cognito
    try:
        user = cognito.admin_create_user(
            UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])["User"]
        attrs = user["Attributes"]
    except cognito.exceptions.UsernameExistsException:
        attrs = cognito.admin_get_user(UserPoolId=pool, Username=email)["UserAttributes"]
    if password:
        cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    return next((a["Value"] for a in attrs if a["Name"] == "sub"), None)


def create_user(email: str, password: str | None = None, clients: Clients | None = None) -> User:
    """A Cognito user plus its account row; idempotent (an existing user is returned,
    with the password reset if one is given)."""
    clients = clients or get_clients()
    email = email.strip().lower()
    if "@" not in email:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, "A user is named by an email address."))
    sub = _cognito_user(clients, email, password)
    with transaction(clients) as tx:
        acct = accounts.ensure_account(tx, email, email=email, cognito_sub=sub)
        if sub and acct.cognito_sub != sub:
            # the local Cognito (moto) forgets users on restart: follow the new sub
            tx.execute("UPDATE accounts SET cognito_sub = :s WHERE account_id = :a",
                       {"s": sub, "a": acct.account_id})
    return User(acct.account_id, acct.username, sub)


def _account_id(tx, user: str | int) -> int:
    if isinstance(user, int) or str(user).isdigit():
        acct = accounts.get_account(tx, int(user))
    else:
        acct = accounts.find_account(tx, username=str(user).strip().lower())
    if acct is None:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Unknown user {user!r}."))
    return acct.account_id


def deposit(user: str | int, asset: str, amount: Decimal, transfer_id: str | None = None,
            clients: Clients | None = None) -> funds.Transfer:
    with transaction(clients) as tx:
        t = funds.credit_deposit(tx, _account_id(tx, user), asset.upper(), amount, transfer_id)
    userevents.publish_transfer(t, clients)  # after the commit
    return t


def create_api_key(user: str | int, label: str = "", can_trade: bool = True, ip_allowlist=None,
                   clients: Clients | None = None) -> tuple[apikeys.ApiKey, str]:
    clients = clients or get_clients()
    master = apikeys.master_key(clients.settings)
    with transaction(clients) as tx:
        return apikeys.create_key(tx, _account_id(tx, user), master, label, can_trade, ip_allowlist)


def balances(user: str | int, clients: Clients | None = None) -> list[dict]:
    with transaction(clients) as tx:
        return ledger.balances(tx, _account_id(tx, user))


def migrate(clients: Clients | None = None, progress=None) -> list[int]:
    """Apply pending migrations through the Data API (what operators run against
    Aurora) and sync the assets table with the symbols file."""
    from chalicelib.db import DataApiTx, data_api_connection
    from chalicelib.migrate import migrate as run
    from chalicelib.symbols import load_catalog

    conn = data_api_connection(clients)
    applied = run(conn, progress=progress)
    tx = DataApiTx(conn)
    try:
        accounts.sync_assets(tx, load_catalog())
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return applied


# -- operator role: the system of record for admin rights -------------------------------------
ADMIN_GROUP = "admin"


def is_admin(account_id: int, clients: Clients | None = None) -> bool:
    """Whether the account holds the ADMIN role in Aurora.  Admin routes check this on
    every request *in addition to* the token's ``cognito:groups``: a token (which a
    leaked or, locally, a published signing key can mint) never makes an admin alone."""
    return autocommit(clients).scalar(  # one read: one Data API call, no transaction
        "SELECT count(*) FROM accounts WHERE account_id = :a AND role = 'ADMIN'", {"a": int(account_id)}) == 1


def _set_cognito_group(clients: Clients, email: str | None, member: bool) -> None:
    """Add or remove the user to/from the pool's ``admin`` group (created if missing on
    local stages; in AWS the identity stack declares it).  No pool or no Cognito
    user: nothing to do."""
    pool = clients.settings.cognito_user_pool_id
    if not pool or not email:
        return
    cognito = clients.cognito
    try:
        if member:
            try:
                cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=ADMIN_GROUP)
            except cognito.exceptions.ResourceNotFoundException:
                if not clients.settings.is_local:
                    raise
                try:
                    cognito.create_group(UserPoolId=pool, GroupName=ADMIN_GROUP,
                                         Description="Operators (rights also require the account's ADMIN role)")
                except cognito.exceptions.GroupExistsException:
                    pass
                cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=ADMIN_GROUP)
        else:
            cognito.admin_remove_user_from_group(UserPoolId=pool, Username=email, GroupName=ADMIN_GROUP)
    except cognito.exceptions.UserNotFoundException:
        return  # an account without a web sign-in
    except cognito.exceptions.ResourceNotFoundException:
        if member:
            raise
        return  # revoking: no group, nobody in it


def set_admin(user: str | int, admin: bool, clients: Clients | None = None) -> dict:
    """Grant (``admin``) or revoke the ADMIN role of a user (email or account id) in
    Aurora and its membership of the Cognito ``admin`` group; idempotent.  Returns
    ``{"accountId", "email", "admin"}``."""
    clients = clients or get_clients()
    with transaction(clients) as tx:
        account_id = _account_id(tx, user)
        row = tx.one("UPDATE accounts SET role = :r WHERE account_id = :a AND kind = 'USER' RETURNING email",
                     {"r": "ADMIN" if admin else "USER", "a": account_id})
        if row is None:
            raise ExchangeError(Failure(Reason.INVALID_PARAMETER, f"Account {account_id} is a system account."))
    _set_cognito_group(clients, row["email"], admin)
    return {"accountId": account_id, "email": row["email"], "admin": admin}
