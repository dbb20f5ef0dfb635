"""Sign-up, sign-in, refresh and TOTP MFA for the web app, through Cognito.

The API only relays: passwords and codes go to Cognito's public-client calls
(``sign_up``, ``initiate_auth`` USER_PASSWORD_AUTH / REFRESH_TOKEN_AUTH,
``respond_to_auth_challenge`` SOFTWARE_TOKEN_MFA, ``associate_software_token``,
``verify_software_token``); nothing is stored here.  Cognito's refusals become
Binance-style errors (-1002 for wrong credentials, -1130 with Cognito's reason for
the rest).  A wrong or expired one-time code is a 400 (-1130), as Cognito answers it:
the caller's session is fine, so a client must not take it for an expired sign-in.
"""
from __future__ import annotations

from contextlib import contextmanager

from chalicelib.errors import ExchangeError, Failure, Reason

_AUTH_FAILURES = {"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException",
                  "PasswordResetRequiredException"}
# a code that does not match (sign-up confirmation, MFA challenge, TOTP enrolment)
_WRONG_CODE = {"CodeMismatchException", "ExpiredCodeException", "EnableSoftwareTokenMFAException"}
WRONG_CODE_MSG = "Wrong code, try again."


def _cognito():
    from chalicelib.clients import get_clients

    c = get_clients()
    if not c.settings.cognito_user_pool_id or not c.settings.cognito_client_id:
        raise ExchangeError(Failure(Reason.DISCONNECTED, "Sign-in is not configured."))
    return c.cognito, c.settings.cognito_client_id


@contextmanager
def _relay():
    from botocore.exceptions import ClientError, ParamValidationError

    try:
        yield
    except (ParamValidationError, UnicodeError) as exc:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, str(exc)[:200])) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        msg = (exc.response.get("Error", {}).get("Message") or code)[:200]
        if code in _AUTH_FAILURES:
            raise ExchangeError(Failure(Reason.UNAUTHORIZED, msg)) from None
        if code in _WRONG_CODE:
            raise ExchangeError(Failure(Reason.INVALID_PARAMETER, WRONG_CODE_MSG)) from None
        if code in ("TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"):
            raise ExchangeError(Failure(Reason.TOO_MANY_REQUESTS, msg)) from None
        if code.endswith("Exception") and code not in ("InternalErrorException", "ServiceUnavailable"):
            raise ExchangeError(Failure(Reason.INVALID_PARAMETER, msg)) from None
        raise


def _tokens(result: dict) -> dict:
    return {"accessToken": result["AccessToken"], "idToken": result["IdToken"],
            "refreshToken": result.get("RefreshToken"), "expiresIn": int(result.get("ExpiresIn", 3600)),
            "tokenType": result.get("TokenType", "Bearer")}


def password_problem(password: str) -> str | None:
    """The first rule of the pool's password policy that ``password`` breaks, in words:
    Cognito's own answer names no rule (and moto's says "does not confirm to")."""
    from chalicelib.resources import PASSWORD_POLICY as pp

    rules = [(len(password) >= int(pp["MinimumLength"]),
              f"Password must be at least {pp['MinimumLength']} characters long."),
             (not pp["RequireUppercase"] or any(c.isupper() for c in password),
              "Password must contain an upper-case letter."),
             (not pp["RequireLowercase"] or any(c.islower() for c in password),
              "Password must contain a lower-case letter."),
             (not pp["RequireNumbers"] or any(c.isdigit() for c in password), "Password must contain a digit."),
             (not pp["RequireSymbols"] or any(not c.isalnum() for c in password), "Password must contain a symbol.")]
    return next((msg for ok, msg in rules if not ok), None)


def sign_up(ctx) -> dict:
    cognito, client_id = _cognito()
    email = ctx.args["email"].lower()
    problem = password_problem(ctx.args["password"])
    if problem:
        raise ExchangeError(Failure(Reason.INVALID_PARAMETER, problem))
    with _relay():
        r = cognito.sign_up(ClientId=client_id, Username=email, Password=ctx.args["password"],
                            UserAttributes=[{"Name": "email", "Value": email}])
    return {"userConfirmed": bool(r.get("UserConfirmed")), "userSub": r.get("UserSub", ""),
            "codeSentTo": _code_destination(r)}


def _code_destination(signed_up: dict) -> str | None:
    """Where Cognito mailed the confirmation code (masked, as Cognito gives it), or None
    on the local stages: their Cognito (moto) sends no mail and accepts any code, and
    the page must not tell the user to look for one."""
    from chalicelib.settings import get_settings

    if get_settings().is_local:
        return None
    return (signed_up.get("CodeDeliveryDetails") or {}).get("Destination") or None


def confirm(ctx) -> dict:
    cognito, client_id = _cognito()
    with _relay():
        cognito.confirm_sign_up(ClientId=client_id, Username=ctx.args["email"].lower(),
                                ConfirmationCode=ctx.args["code"])
    return {"confirmed": True}


def sign_in(ctx) -> dict:
    cognito, client_id = _cognito()
    with _relay():
        r = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": ctx.args["email"].lower(),
                                                  "PASSWORD": ctx.args["password"]})
    if "AuthenticationResult" in r:
        return _tokens(r["AuthenticationResult"])
    return {"challengeName": r.get("ChallengeName", ""), "session": r.get("Session", "")}


def respond(ctx) -> dict:
    cognito, client_id = _cognito()
    with _relay():
        r = cognito.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=ctx.args["session"],
            ChallengeResponses={"USERNAME": ctx.args["email"].lower(), "SOFTWARE_TOKEN_MFA_CODE": ctx.args["code"]})
    if "AuthenticationResult" not in r:
        raise ExchangeError(Failure(Reason.UNAUTHORIZED, "Challenge not completed."))
    return _tokens(r["AuthenticationResult"])


def refresh(ctx) -> dict:
    cognito, client_id = _cognito()
    with _relay():
        r = cognito.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": ctx.args["refreshToken"]})
    result = r["AuthenticationResult"]
    result.setdefault("RefreshToken", None)
    return _tokens(result)


def _own_access_token(ctx) -> str:
    """The access token in the body must be the signed-in user's own."""
    from chalicelib.api.auth import verify_token

    token = ctx.args["accessToken"]
    claims = verify_token(token)
    if claims.get("token_use") != "access" or claims["sub"] != ctx.principal.sub:
        raise ExchangeError(Failure(Reason.UNAUTHORIZED, "The access token is not the signed-in user's."))
    return token


def mfa_associate(ctx) -> dict:
    cognito, _ = _cognito()
    token = _own_access_token(ctx)
    with _relay():
        r = cognito.associate_software_token(AccessToken=token)
    return {"secretCode": r["SecretCode"]}


def mfa_verify(ctx) -> dict:
    cognito, _ = _cognito()
    token = _own_access_token(ctx)
    with _relay():
        r = cognito.verify_software_token(AccessToken=token, UserCode=ctx.args["code"],
                                          FriendlyDeviceName=ctx.args.get("deviceName", "authenticator"))
        ok = r.get("Status") == "SUCCESS"
        if ok:
            cognito.set_user_mfa_preference(AccessToken=token,
                                            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    return {"status": r.get("Status", "ERROR"), "mfaEnabled": ok}
