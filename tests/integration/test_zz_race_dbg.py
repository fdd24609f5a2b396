import pytest
from tests.integration import test_action_events_idempotency as t
from tests.integration.pipeline_support import pipeline  # noqa
from tests.integration.event_support import booking, stamped, ALICE

@pytest.mark.parametrize("n", range(8))
def test_dbg(pipeline, n):
    integration_id = pipeline.install("delegate")
    outcomes = t._run_at_once(pipeline, "create_event", booking(integration_id), jobs=4)
    if len(stamped(pipeline.sim, ALICE, t.KEY)) != 1:
        for o in outcomes:
            print(o.status, o.attempts, o.result, o.error)
        print(pipeline.sim.request_counts())
        assert False
