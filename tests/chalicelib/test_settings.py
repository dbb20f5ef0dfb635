from dataclasses import fields

import pytest

from chalicelib.settings import SPECS, Settings, SettingsError, load_settings


def test_every_spec_names_its_field_and_every_field_has_one_spec():
    """Bound by name: the order of SPECS and of the dataclass fields is irrelevant."""
    assert sorted(s.field for s in SPECS) == sorted(f.name for f in fields(Settings))
    assert len({s.env for s in SPECS}) == len(SPECS)


def test_values_land_on_their_named_field():
    s = load_settings({"TRADES_TABLE": "t-trades", "BOOK_TABLE": "t-book", "EXCHANGE_SYMBOLS_FILE": "/x.json"})
    assert (s.trades_table, s.book_table, s.symbols_file) == ("t-trades", "t-book", "/x.json")


def _aws_env(**extra):
    env = {s.env: "placeholder-value" for s in SPECS if s.required_in_aws}
    env.update({"EXCHANGE_STAGE": "prod", "REDIS_URL": "rediss://cache:6379/0",
                "DB_CLUSTER_ARN": "arn:aws:rds:eu-west-1:123456789012:cluster:x",
                "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
                "COGNITO_USER_POOL_ID": "eu-west-1_abc", "COGNITO_CLIENT_ID": "abc123",
                "API_KEY_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k"})
    env.update(extra)
    return env


def test_a_unit_needs_only_its_declared_settings_and_may_read_no_other():
    """On an AWS stage EXCHANGE_UNIT restricts the process to its unit's declaration
    (chalicelib/units.py): the jobs task needs no Cognito ids, and reading one is an
    error naming the setting and the unit."""
    from chalicelib.units import unit
    from matcher.service.config import JOBS

    jobs_env = {k: v for k, v in _aws_env(EXCHANGE_UNIT="jobs", DATABASE_URL="postgresql:///exchange",
                                          PGHOST="db").items()
                if k in JOBS.settings or k in ("EXCHANGE_STAGE", "EXCHANGE_UNIT")}
    s = load_settings(jobs_env)
    assert s.unit == "jobs" and s.intents_table == "placeholder-value"
    with pytest.raises(SettingsError, match="COGNITO_USER_POOL_ID is read by unit 'jobs' but not declared"):
        _ = s.cognito_user_pool_id
    # a declared, required setting that is missing fails at start, naming it
    with pytest.raises(SettingsError, match="INTENTS_TABLE is required"):
        load_settings({k: v for k, v in jobs_env.items() if k != "INTENTS_TABLE"})
    # local-only settings keep their local meaning (none) and may not be set on AWS
    assert s.origin_verify_secret == ""
    with pytest.raises(SettingsError, match="ORIGIN_VERIFY_SECRET is for local stages only"):
        load_settings({**jobs_env, "ORIGIN_VERIFY_SECRET": "x"})
    with pytest.raises(SettingsError, match="EXCHANGE_UNIT='nope'"):
        load_settings(_aws_env(EXCHANGE_UNIT="nope"))
    assert "API_KEY_SECRET_ARN" in unit("api").settings


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
