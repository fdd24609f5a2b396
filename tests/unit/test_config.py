"""PipelineConfig: read once from the environment, with errors that name the variable."""

from __future__ import annotations

import pytest

from pipeline.config import PipelineConfig


def test_defaults_fit_a_local_run() -> None:
    config = PipelineConfig.from_env({})

    assert (config.table_name, config.aws_region, config.broker_url) == ("ews-pipeline", "us-east-1", "stub://")
    assert (config.worker_concurrency, config.job_ttl_days, config.aws_endpoint_url) == (8, 30, None)
    assert config.job_lease_seconds > config.job_timeout_seconds


def test_values_come_from_their_variables() -> None:
    config = PipelineConfig.from_env({
        "PIPELINE_TABLE": "jobs-prod", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-2",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "PIPELINE_BROKER": "redis://localhost:6379/0",
        "PIPELINE_CONCURRENCY": "16", "PIPELINE_JOB_TTL_DAYS": "7",
        "PIPELINE_CALLBACK_URL": "https://hooks.example.com/ews",
    })

    assert config.aws_region == "eu-west-2"  # AWS_REGION (set by Lambda) wins
    assert (config.table_name, config.worker_concurrency, config.job_ttl_days) == ("jobs-prod", 16, 7)
    assert config.callback_base_url == "https://hooks.example.com/ews"


def test_connecting_to_ews_has_a_short_timeout_of_its_own() -> None:
    assert PipelineConfig.from_env({}).ews_connect_timeout_seconds == 5
    config = PipelineConfig.from_env({"PIPELINE_EWS_CONNECT_TIMEOUT": "2", "PIPELINE_EWS_TIMEOUT": "45"})
    assert (config.ews_connect_timeout_seconds, config.ews_timeout_seconds) == (2, 45)


def test_aws_default_region_is_the_fallback() -> None:
    assert PipelineConfig.from_env({"AWS_DEFAULT_REGION": "ap-south-1"}).aws_region == "ap-south-1"


@pytest.mark.parametrize(("environ", "variable"), [
    ({"PIPELINE_CONCURRENCY": "many"}, "PIPELINE_CONCURRENCY"),
    ({"PIPELINE_CONCURRENCY": "0"}, "PIPELINE_CONCURRENCY"),
    ({"PIPELINE_BROKER": "kafka://broker"}, "PIPELINE_BROKER"),
    ({"AWS_ENDPOINT_URL": "localhost:5000"}, "AWS_ENDPOINT_URL"),
    ({"PIPELINE_EWS_TIMEOUT": "300"}, "PIPELINE_EWS_TIMEOUT"),
    ({"PIPELINE_EWS_CONNECT_TIMEOUT": "0"}, "PIPELINE_EWS_CONNECT_TIMEOUT"),
    ({"PIPELINE_JOB_TIMEOUT": "30", "PIPELINE_EWS_TIMEOUT": "20", "PIPELINE_EWS_CONNECT_TIMEOUT": "30"},
     "PIPELINE_EWS_CONNECT_TIMEOUT"),
    ({"PIPELINE_JOB_TIMEOUT": "60", "PIPELINE_MAX_RETRY_WAIT": "60"}, "PIPELINE_MAX_RETRY_WAIT"),
])
def test_a_bad_value_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        PipelineConfig.from_env(environ)


def test_a_bad_broker_url_is_not_echoed() -> None:
    with pytest.raises(ValueError) as caught:
        PipelineConfig.from_env({"PIPELINE_BROKER": "kafka://user:Secret-Pass@broker"})
    assert "Secret-Pass" not in str(caught.value)


def test_the_config_is_frozen_and_hashable() -> None:
    config = PipelineConfig.from_env({})
    with pytest.raises(ValueError):
        config.table_name = "other"
    assert hash(config) == hash(PipelineConfig.from_env({}))


# -- events sink -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "bus", "queue"), [
    ("none", None, None),
    ("stream", None, None),
    ("eventbridge://ews-pipeline-events", "ews-pipeline-events", None),
    ("eventbridge://arn:aws:events:eu-west-1:123456789012:event-bus/apps", "arn:aws:events:eu-west-1:"
     "123456789012:event-bus/apps", None),
    ("dramatiq://ews-events", None, "ews-events"),
])
def test_the_events_sink_is_read_from_its_variable(value: str, bus: str | None, queue: str | None) -> None:
    config = PipelineConfig.from_env({"PIPELINE_EVENTS_SINK": value, "PIPELINE_BROKER": "redis://localhost"})

    assert (config.events_sink, config.events_bus_name, config.events_queue_name) == (value, bus, queue)


def test_events_are_not_published_unless_configured_and_sweeps_have_defaults() -> None:
    config = PipelineConfig.from_env({})
    swept = PipelineConfig.from_env({"PIPELINE_EVENTS_SWEEP_INTERVAL": "2", "PIPELINE_EVENTS_SWEEP_AGE": "0"})

    assert config.events_sink == "none"
    assert (config.events_sweep_interval_seconds, config.events_sweep_age_seconds) == (5, 30)
    assert (swept.events_sweep_interval_seconds, swept.events_sweep_age_seconds) == (2, 0)


@pytest.mark.parametrize(("environ", "message"), [
    ({"PIPELINE_EVENTS_SINK": "kafka://events"}, "PIPELINE_EVENTS_SINK: must be none, stream"),
    ({"PIPELINE_EVENTS_SINK": "eventbridge://"}, "PIPELINE_EVENTS_SINK: must be"),
    ({"PIPELINE_EVENTS_SINK": "dramatiq://no spaces"}, "PIPELINE_EVENTS_SINK: must be"),
    ({"PIPELINE_EVENTS_SINK": "dramatiq://ews-events", "PIPELINE_BROKER": "sqs://ews-jobs.fifo"},
     "PIPELINE_EVENTS_SINK dramatiq:// needs a Redis, RabbitMQ or stub broker"),
    ({"PIPELINE_EVENTS_SINK": "dramatiq://ews-jobs"}, "must not name the jobs queue"),
    ({"PIPELINE_EVENTS_SWEEP_INTERVAL": "0"}, "PIPELINE_EVENTS_SWEEP_INTERVAL"),
    ({"PIPELINE_EVENTS_SWEEP_AGE": "-1"}, "PIPELINE_EVENTS_SWEEP_AGE"),
])
def test_a_bad_events_setting_is_a_clear_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_env(environ)


@pytest.mark.parametrize("sink", ["none", "stream"])
def test_no_publisher_where_nothing_publishes_inline(sink: str) -> None:
    from pipeline.events.publisher import build_event_publisher

    config = PipelineConfig.from_env({"PIPELINE_EVENTS_SINK": sink})

    assert build_event_publisher(config, store=None) is None  # type: ignore[arg-type]
