"""app.py beyond its HTTP routes (those are tested in tests/api)."""
from chalice.test import Client


def test_reconciler_runs_on_its_schedule(exchange_env):
    import app

    with Client(app.app, stage_name="local") as client:
        event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                                detail={}, resources=["arn:aws:events:us-east-1:0:rule/r"])
        result = client.lambda_.invoke("reconciler", event)
    assert set(result.payload) >= {"checked", "completed", "reversed", "nudged"}
    assert all(isinstance(v, int) for v in result.payload.values())
