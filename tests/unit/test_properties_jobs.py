"""Properties of reading job messages: any JSON in gives a valid job or a refusal with a stable code.

parse_kwargs accepts kwargs its action's model accepts and refuses anything else with UNKNOWN_ACTOR
or INVALID_KWARGS, the same way every time, naming fields but never quoting a value. The Lambda
handler's decoder gives run_job a message whose envelope has the types it relies on (a string
message_id and actor_name, a kwargs object, options an object), or refuses the record as
undecodable; it never lets anything else escape. Run through run_job and the results table in
tests/integration/test_properties_run_job.py.
"""

from __future__ import annotations

import json
from typing import Any

import dramatiq
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.contract import ACTIONS, parse_kwargs
from pipeline.errors import ErrorCode, PermanentError
from pipeline.runtimes.lambda_jobs import SqsJobProcessor, UndecodableRecord

PROPERTIES = settings(max_examples=100, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])
# A value that must never be quoted back in a refusal (kwargs may carry secrets or personal data).
CANARY = "Zq9-canary-Secret"

# Text as JSON from any language can carry it: lone surrogates (escaped), controls, non-ASCII.
texts = st.text(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=20)
plausible = st.sampled_from([
    "acme", "alice@example.com", "building-1@example.com", ["alice@example.com", "bob@example.com"],
    "2030-01-07T09:00:00+00:00", "2030-01-07T10:00:00+00:00", "detailed", "booking-1", 30, True, [], {},
    CANARY, [CANARY], {"x": CANARY},
])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | texts | plausible,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)
FIELDS = sorted({name for contract in ACTIONS.values() for name in contract.kwargs_model.model_fields})
kwargs_objects = st.dictionaries(st.sampled_from(FIELDS) | texts, json_values, max_size=7)
actor_names = st.sampled_from(sorted(ACTIONS)) | texts


@PROPERTIES
@given(actor_names, kwargs_objects | json_values)
def test_kwargs_are_accepted_by_their_model_or_refused_with_a_stable_code(actor: str, kwargs: Any) -> None:
    try:
        parsed = parse_kwargs(actor, kwargs)
    except PermanentError as refused:
        expected = ErrorCode.UNKNOWN_ACTOR if actor not in ACTIONS else ErrorCode.INVALID_KWARGS
        assert refused.code is expected
        assert CANARY not in refused.message
        with pytest.raises(PermanentError) as again:
            parse_kwargs(actor, kwargs)
        assert (again.value.code, again.value.message) == (refused.code, refused.message)
        return
    assert isinstance(parsed, ACTIONS[actor].kwargs_model)


def record(body: str) -> SQSRecord:
    return SQSRecord({"messageId": "m-1", "receiptHandle": "r-1", "body": body, "attributes": {},
                      "messageAttributes": {}, "eventSource": "aws:sqs"})


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A dramatiq message's fields, each well-typed or not, some missing, some extra."""
    fields = {
        "queue_name": st.just("ews-jobs") | json_values,
        "actor_name": actor_names | json_values,
        "args": st.just([]) | json_values,
        "kwargs": kwargs_objects | json_values,
        "options": st.just({}) | json_values,
        "message_id": st.uuids().map(str) | texts | json_values,
        "message_timestamp": st.integers() | json_values,
    }
    envelope = {name: draw(value) for name, value in fields.items() if draw(st.integers(0, 9)) > 0}
    if draw(st.booleans()):
        envelope.update(draw(st.dictionaries(texts, json_values, max_size=2)))
    return envelope


# An SQS body holds only the characters XML allows (no lone surrogates, few controls); in JSON,
# escaped, it can still carry any.
sqs_texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]) | st.sampled_from("\t\n\r"),
                    max_size=40)
bodies = (envelopes().map(json.dumps) | json_values.map(json.dumps) | sqs_texts
          | envelopes().map(lambda envelope: json.dumps(envelope)[:-1]))


@PROPERTIES
@given(bodies)
def test_a_record_decodes_to_a_well_typed_message_or_is_undecodable(body: str) -> None:
    processor = SqsJobProcessor.__new__(SqsJobProcessor)  # decoding needs no runtime or queue
    try:
        message: dramatiq.Message[Any] = processor._decode(record(body))
    except UndecodableRecord as refused:
        assert str(refused)
        return
    assert isinstance(message.message_id, str) and message.message_id
    assert isinstance(message.actor_name, str) and message.actor_name
    assert isinstance(message.kwargs, dict) and isinstance(message.options, dict)
    assert isinstance(message.args, tuple)
