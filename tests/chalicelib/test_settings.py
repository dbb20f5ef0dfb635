from dataclasses import fields

import pytest

from chalicelib.settings import SPECS, Settings, SettingsError, load_settings


def test_every_spec_has_a_field_in_order():
    assert [f.name for f in fields(Settings)][: len(SPECS)] == [
        {"AWS_DEFAULT_REGION": "region", "EXCHANGE_STAGE": "stage", "EXCHANGE_SYMBOLS_FILE": "symbols_file"}.get(
            s.env, s.env.lower()) for s in SPECS]


def test_local_defaults_are_complete_and_obviously_local():
    s = load_settings({})
    assert s.stage == "local" and s.is_local
    assert s.intents_table == "exchange-local-intents"
    assert "local" in s.api_key_master_secret and "000000000000" in s.db_cluster_arn


@pytest.mark.parametrize("env, named", [
    ({"EXCHANGE_STAGE": "qa"}, "EXCHANGE_STAGE"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"DB_CLUSTER_ARN": "not-an-arn"}, "DB_CLUSTER_ARN"),
    ({"INTENTS_TABLE": "x"}, "INTENTS_TABLE"),
    ({"AWS_DEFAULT_REGION": "moon"}, "AWS_DEFAULT_REGION"),
])
def test_malformed_values_fail_fast_naming_the_variable(env, named):
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert named in str(err.value)


def test_aws_stages_must_set_every_resource_and_the_key_secret():
    with pytest.raises(SettingsError) as err:
        load_settings({"EXCHANGE_STAGE": "prod"})
    assert "required on stage prod" in str(err.value)
    full = {s.env: "placeholder-value" for s in SPECS if s.required_in_aws}
    full.update({"EXCHANGE_STAGE": "prod", "REDIS_URL": "rediss://cache:6379/0",
                 "DB_CLUSTER_ARN": "arn:aws:rds:eu-west-1:123456789012:cluster:x",
                 "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
                 "COGNITO_USER_POOL_ID": "eu-west-1_abc", "COGNITO_CLIENT_ID": "abc123"})
    with pytest.raises(SettingsError) as err:
        load_settings(full)
    assert "API_KEY_SECRET_ARN" in str(err.value)
    full["API_KEY_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k"
    s = load_settings(full)
    assert s.stage == "prod" and s.redis_url.startswith("rediss://")
