"""PipelineClient builds valid job messages, the one-job booking and the two-job pipeline (no I/O:
a stub broker)."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

from pipeline.client import JOBS_QUEUE, InvalidJob, PipelineClient
from pipeline.contract import CancelEventKwargs, CreateEventKwargs, JobMessage, SendInviteKwargs

CREATE: dict[str, Any] = {
    "integration_id": "acme-onprem",
    "mailbox": "Alice@Example.com",
    "booking_key": "interview-8841:slot-2",
    "subject": "Interview",
    "start": "2026-11-03T14:00:00Z",
    "end": "2026-11-03T15:00:00Z",
    "required_attendees": [{"email": "bob@example.com"}],
}


@pytest.fixture
def client() -> PipelineClient:
    return PipelineClient(StubBroker())


def test_a_message_carries_validated_normalised_kwargs(client: PipelineClient) -> None:
    message = client.message("create_event", CREATE)
    assert (message.queue_name, message.actor_name, message.args) == (JOBS_QUEUE, "create_event", ())
    assert message.kwargs["mailbox"] == "alice@example.com"
    assert message.kwargs["required_attendees"] == [{"email": "bob@example.com"}]
    # The envelope is what the published job-message schema describes.
    JobMessage.model_validate({**message.asdict(), "args": []})


def test_a_model_instance_is_accepted_as_is(client: PipelineClient) -> None:
    kwargs = CancelEventKwargs(integration_id="acme", mailbox="alice@example.com", booking_key="k-1")
    message = client.message("cancel_event", kwargs, message_id="fixed-id")
    assert message.message_id == "fixed-id"
    assert message.kwargs == {"integration_id": "acme", "mailbox": "alice@example.com", "booking_key": "k-1"}


def test_bad_kwargs_are_refused_naming_the_field_not_the_value(client: PipelineClient) -> None:
    with pytest.raises(InvalidJob) as refused:
        client.message("create_event", {**CREATE, "end": "2026-11-03T13:00:00Z", "subject": "secret-ish"})
    assert "end_not_after_start" in str(refused.value)
    assert "secret-ish" not in str(refused.value)


def test_the_wrong_model_or_an_unknown_action_is_refused(client: PipelineClient) -> None:
    wrong = SendInviteKwargs(integration_id="acme", mailbox="alice@example.com", booking_key="k-1")
    with pytest.raises(InvalidJob, match="CancelEventKwargs"):
        client.message("cancel_event", wrong)
    with pytest.raises(InvalidJob, match="unknown action"):
        client.message("delete_everything", {})


def test_book_is_one_create_event_that_sends_the_invitations(client: PipelineClient) -> None:
    booked = client.book(CREATE, message_id="create-1")
    assert (booked.actor_name, booked.message_id) == ("create_event", "create-1")
    assert booked.kwargs["send_invitations"] is True
    assert "pipe_target" not in booked.options
    # A model instance too, without changing the caller's.
    kwargs = CreateEventKwargs.model_validate(CREATE)
    assert client.book(kwargs).kwargs["send_invitations"] is True
    assert kwargs.send_invitations is False
    client.send(booked)
    assert client.broker.queues[JOBS_QUEUE].qsize() == 1


def test_invite_names_the_booking_of_create_event_kwargs(client: PipelineClient) -> None:
    invite = client.invite(CREATE, message_id="invite-1")
    assert (invite.actor_name, invite.message_id) == ("send_invite", "invite-1")
    assert invite.kwargs == {
        "integration_id": "acme-onprem",
        "mailbox": "alice@example.com",
        "booking_key": "interview-8841:slot-2",
    }


def test_create_then_invite_pipes_create_event_into_send_invite(client: PipelineClient) -> None:
    booked = client.create_then_invite(CREATE, message_id="create-1")
    create, invite = booked.messages
    assert (create.actor_name, invite.actor_name) == ("create_event", "send_invite")
    assert create.message_id == "create-1"
    assert invite.kwargs == {
        "integration_id": "acme-onprem",
        "mailbox": "alice@example.com",
        "booking_key": "interview-8841:slot-2",
    }
    # send_invite names its booking itself and does not take create_event's result as an argument.
    assert invite.options["pipe_ignore"] is True
    assert create.options["pipe_target"] == invite.asdict()


def test_create_then_invite_holds_the_event_and_enqueues_only_the_first_step(
    client: PipelineClient,
) -> None:
    with pytest.raises(InvalidJob, match="send_invitations"):
        client.create_then_invite({**CREATE, "send_invitations": True})
    booked = client.create_then_invite(CREATE).run()
    assert "send_invitations" not in booked.messages[0].kwargs
    queue = client.broker.queues[JOBS_QUEUE]
    assert queue.qsize() == 1
    assert booked.messages[0].options["pipe_target"]["actor_name"] == "send_invite"
