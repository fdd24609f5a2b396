"""Capturing what pipeline.observability writes: JSON log lines and EMF metric lines on stdout.

    def test_something(observed: Observed) -> None:
        ...
        output = observed.take()
        assert output.metric_points("JobsProcessed") == [...]
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline import observability
from pipeline.observability import PIPELINE_LOGGERS, configure_logging, logger, set_metrics_enabled


@dataclass(frozen=True)
class Output:
    """Everything written to stdout and stderr since the last take()."""

    text: str

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every line that is a JSON object, parsed."""
        parsed = []
        for line in self.text.splitlines():
            if line.startswith("{"):
                parsed.append(json.loads(line))
        return parsed

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [record for record in self.records if "_aws" not in record]

    def metric_points(self, name: str) -> list[dict[str, Any]]:
        """Each EMF line for metric `name`: its value, unit and dimensions as one flat dict."""
        points = []
        for record in self.records:
            meta = record.get("_aws")
            if meta is None:
                continue
            [directive] = meta["CloudWatchMetrics"]
            if directive["Namespace"] != observability.NAMESPACE:
                continue
            for metric in directive["Metrics"]:
                if metric["Name"] == name:
                    [dimension_names] = directive["Dimensions"]
                    point = {key: record[key] for key in dimension_names}
                    # EMF allows a list of values; each of our lines carries exactly one.
                    [value] = record[name] if isinstance(record[name], list) else [record[name]]
                    point.update(value=value, unit=metric["Unit"])
                    points.append(point)
        return points


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time of writing."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class Observed:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def take(self) -> Output:
        captured = self._capsys.readouterr()
        return Output(captured.out + captured.err)


@pytest.fixture
def observed(capsys: pytest.CaptureFixture[str]) -> Iterator[Observed]:
    """JSON logs routed as in Lambda and metrics on, both onto the captured stdout; undone after."""
    handler = logger.logger_handler
    assert isinstance(handler, logging.StreamHandler)
    saved = {
        name: (list(target.handlers), target.level, target.propagate)
        for name, target in ((name, logging.getLogger(name)) for name in PIPELINE_LOGGERS)
    }
    # Not setStream(): that flushes the stream of the moment the Logger was built, which may be an
    # earlier capture, closed since. And not sys.stdout itself: capsys swaps it between phases.
    previous_stream, handler.stream = handler.stream, _CurrentStdout()
    configure_logging()
    set_metrics_enabled(True)
    try:
        yield Observed(capsys)
    finally:
        set_metrics_enabled(None)
        handler.stream = previous_stream
        for name, (handlers, level, propagate) in saved.items():
            target = logging.getLogger(name)
            target.handlers[:] = handlers
            target.setLevel(level)
            target.propagate = propagate
