"""4. Identity: the Cognito user pool and its app clients, from chalicelib.resources.

The pool's password policy, sign-in attribute, recovery and the web client's flows and
token lifetimes are read from ``chalicelib/resources.py`` - the same values the local
stack gives moto - so tests sign in against the policy production enforces.  Per stage:
the MFA mode (OPTIONAL in dev, REQUIRED in prod; TOTP only, no SMS) and threat
protection (Cognito Plus, prod).

Federation is created only when configured: Google when ``google_client_id`` is set,
Okta (OIDC) when ``okta_client_id`` and ``okta_issuer_url`` are.  Their client secrets
are read by CloudFormation from Secrets Manager at deploy time
(``exchange/<stage>/google-client-secret``, ``exchange/<stage>/okta-client-secret``);
no secret is in the repository or the template.
"""
from __future__ import annotations

from typing import Literal

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue, Stack, aws_cognito as cognito
from constructs import Construct

from chalicelib import resources as R
from chalicelib.units import ADMIN_GROUP
from infra.config import StageConfig
from infra.nag import acknowledge
from infra.stacks.common import env_output

_MFA = {"OFF": cognito.Mfa.OFF, "OPTIONAL": cognito.Mfa.OPTIONAL, "REQUIRED": cognito.Mfa.REQUIRED}
_UNITS = {"minutes": Duration.minutes, "hours": Duration.hours, "days": Duration.days}


def _validity(client: R.WebClient,
              key: Literal["AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity"]) -> Duration:
    unit = client["TokenValidityUnits"][key.removesuffix("Validity")]
    return _UNITS[unit](client[key])


class IdentityStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg
        pp = R.PASSWORD_POLICY
        pool = R.USER_POOL
        self.user_pool = cognito.UserPool(
            self, "UserPool",
            user_pool_name=f"{R.USER_POOL_NAME}-{cfg.stage}",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email="email" in pool["UsernameAttributes"]),
            auto_verify=cognito.AutoVerifiedAttrs(email="email" in pool["AutoVerifiedAttributes"]),
            sign_in_case_sensitive=False,
            password_policy=cognito.PasswordPolicy(
                min_length=pp["MinimumLength"], require_uppercase=pp["RequireUppercase"],
                require_lowercase=pp["RequireLowercase"], require_digits=pp["RequireNumbers"],
                require_symbols=pp["RequireSymbols"],
                temp_password_validity=Duration.days(pp["TemporaryPasswordValidityDays"])),
            mfa=_MFA[cfg.mfa],
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False) if cfg.mfa != "OFF" else None,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS if cfg.threat_protection else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(cognito.StandardThreatProtectionMode.FULL_FUNCTION
                                             if cfg.threat_protection else None),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        providers = [cognito.UserPoolClientIdentityProvider.COGNITO]
        idps = []
        if cfg.google_client_id:
            google = cognito.UserPoolIdentityProviderGoogle(
                self, "Google", user_pool=self.user_pool, client_id=cfg.google_client_id,
                client_secret_value=SecretValue.secrets_manager(f"exchange/{cfg.stage}/google-client-secret"),
                scopes=["openid", "email", "profile"],
                attribute_mapping=cognito.AttributeMapping(email=cognito.ProviderAttribute.GOOGLE_EMAIL))
            providers.append(cognito.UserPoolClientIdentityProvider.GOOGLE)
            idps.append(google)
        if cfg.okta_client_id and cfg.okta_issuer_url:
            okta = cognito.UserPoolIdentityProviderOidc(
                self, "Okta", user_pool=self.user_pool, name="Okta", client_id=cfg.okta_client_id,
                client_secret=SecretValue.secrets_manager(f"exchange/{cfg.stage}/okta-client-secret").unsafe_unwrap(),
                issuer_url=cfg.okta_issuer_url, scopes=["openid", "email", "profile"],
                attribute_mapping=cognito.AttributeMapping(email=cognito.ProviderAttribute.other("email")))
            providers.append(cognito.UserPoolClientIdentityProvider.custom("Okta"))
            idps.append(okta)

        web_url = f"https://{cfg.domain_name}" if cfg.domain_name else "http://localhost:8000"
        wc = R.WEB_CLIENT
        flows = set(wc["ExplicitAuthFlows"])
        self.web_client = self.user_pool.add_client(
            "WebClient",
            user_pool_client_name=f"{wc['ClientName']}-{cfg.stage}",
            generate_secret=wc["GenerateSecret"],
            auth_flows=cognito.AuthFlow(user_srp="ALLOW_USER_SRP_AUTH" in flows,
                                        user_password="ALLOW_USER_PASSWORD_AUTH" in flows),
            access_token_validity=_validity(wc, "AccessTokenValidity"),
            id_token_validity=_validity(wc, "IdTokenValidity"),
            refresh_token_validity=_validity(wc, "RefreshTokenValidity"),
            prevent_user_existence_errors=wc["PreventUserExistenceErrors"] == "ENABLED",
            enable_token_revocation=True,
            supported_identity_providers=providers,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[f"{web_url}/auth/callback"], logout_urls=[f"{web_url}/"]),
        )
        # Server-side client (operator CLI, back office): has a secret, admin auth only.
        self.server_client = self.user_pool.add_client(
            "ServerClient",
            user_pool_client_name=f"exchange-server-{cfg.stage}",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(admin_user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.minutes(15), id_token_validity=Duration.minutes(15),
            refresh_token_validity=Duration.hours(12),
        )
        for idp in idps:
            self.web_client.node.add_dependency(idp)
        if cfg.cognito_domain_prefix:
            self.user_pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=cfg.cognito_domain_prefix))

        # The operators' group: `python -m chalicelib.cli grant-admin USER` adds a user
        # to it (and records the role in Aurora, which is what grants the rights:
        # admin rights never come from a token claim alone).
        self.admin_group = cognito.CfnUserPoolGroup(
            self, "AdminGroup", user_pool_id=self.user_pool.user_pool_id, group_name=ADMIN_GROUP,
            description="exchange operators (managed by python -m chalicelib.cli grant-admin / revoke-admin)")

        self.providers = {"COGNITO_USER_POOL_ID": self.user_pool.user_pool_id,
                          "COGNITO_CLIENT_ID": self.web_client.user_pool_client_id}
        for var, value in self.providers.items():
            env_output(self, var, value)
        CfnOutput(self, "UserPoolArn", value=self.user_pool.user_pool_arn)
        CfnOutput(self, "ServerClientId", value=self.server_client.user_pool_client_id)

        acknowledge(self.user_pool, "AwsSolutions-COG1",
                    "The policy is the one in chalicelib/resources.py shared with the local stack: length >= 10 "
                    "with upper, lower and digits. Symbols are not required, following NIST SP 800-63B (length "
                    "over composition rules); MFA (TOTP) adds the second factor.")
        if cfg.mfa != "REQUIRED":
            acknowledge(self.user_pool, "AwsSolutions-COG2",
                        f"MFA is {cfg.mfa} in stage {cfg.stage} by configuration (infra/config.py); prod requires it.")
        if not cfg.threat_protection:
            for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
                acknowledge(self.user_pool, rule,
                            f"The Plus feature plan / threat protection (priced per MAU) is enabled in prod only; "
                            f"stage {cfg.stage} is a development stage without real users.")
