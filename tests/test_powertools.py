"""``lambda_asgi.powertools``: Powertools' Logger, Tracer and Metrics stacked over the adapter.

Real Powertools objects throughout: the Logger writes JSON to a captured stream, Metrics prints
CloudWatch EMF to stdout, and the Tracer runs with a recording provider (Powertools'
documented extension point) instead of the X-Ray SDK.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import logger as powertools_logger_module
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider import cold_start as metrics_cold_start
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lambda_asgi import LambdaAdapter, LambdaContext, UnsupportedEventError
from lambda_asgi.powertools import instrument
from tests.events import function_url_event, http_api_v2_event


@pytest.fixture(autouse=True)
def isolated_powertools() -> Iterator[None]:
    """Restore what Powertools keeps globally (cold start flags, Tracer config, and the
    ``lambda_asgi`` logger that ``adapter_logs`` reconfigures)."""
    adapter_logger = logging.getLogger("lambda_asgi")
    saved = (adapter_logger.handlers[:], adapter_logger.propagate, adapter_logger.level)
    powertools_logger_module.is_cold_start = True
    metrics_cold_start.is_cold_start = True
    yield
    adapter_logger.handlers, adapter_logger.propagate, adapter_logger.level = saved
    Tracer._reset_config()


@pytest.fixture
def log() -> tuple[Logger, io.StringIO]:
    """A Powertools Logger (its own service, so tests do not share it) and its output."""
    stream = io.StringIO()
    logger = Logger(
        service=f"svc-{uuid.uuid4().hex[:8]}", logger_handler=logging.StreamHandler(stream)
    )
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log lines written so far."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def event(path: str, request_id: str, method: str = "GET", **kwargs: Any) -> dict[str, Any]:
    """An HTTP API v2 event with its own ``requestContext.requestId``."""
    built = http_api_v2_event(method, path, **kwargs)
    built["requestContext"]["requestId"] = request_id
    return built


def shop_app(logger: Logger, metrics: Metrics | None = None) -> Starlette:
    """A Starlette app that logs (and counts) through Powertools like a real one."""

    async def order(request: Request) -> JSONResponse:
        order_id = int(request.path_params["id"])
        logger.info("order placed", extra={"order_id": order_id})
        if metrics is not None:
            metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
        return JSONResponse({"id": order_id}, status_code=201)

    async def boom(request: Request) -> JSONResponse:
        logger.info("about to fail")
        raise RuntimeError("inventory service down")

    return Starlette(
        routes=[Route("/orders/{id:int}", order, methods=["POST"]), Route("/boom", boom)]
    )


def test_every_log_line_of_a_request_carries_its_request_id(
    log: tuple[Logger, io.StringIO],
) -> None:
    logger, stream = log
    handler = instrument(LambdaAdapter(shop_app(logger), lifespan="off"), logger=logger)

    ok = handler(event("/orders/7", "req-ok", "POST"), LambdaContext(aws_request_id="lambda-1"))
    failed = handler(event("/boom", "req-boom"), LambdaContext(aws_request_id="lambda-2"))

    assert (ok["statusCode"], ok["body"]) == (201, '{"id":7}')
    assert failed["statusCode"] == 500
    records = lines(stream)
    summary = [
        (r["message"].split(":")[0], r["correlation_id"], r["function_request_id"], r["cold_start"])
        for r in records
    ]
    assert summary == [
        ("order placed", "req-ok", "lambda-1", True),
        ("about to fail", "req-boom", "lambda-2", False),
        # The adapter's own line (Starlette answered 500, then re-raised) has the same keys.
        ("ASGI app raised after its response was complete", "req-boom", "lambda-2", False),
    ]
    assert records[0]["order_id"] == 7
    assert records[2]["level"] == "ERROR" and records[2]["name"] == "lambda_asgi"
    assert "inventory service down" in records[2]["exception"]


def test_access_log_line_per_request(log: tuple[Logger, io.StringIO]) -> None:
    logger, stream = log
    handler = instrument(
        LambdaAdapter(shop_app(logger), lifespan="off"), logger=logger, access_log=True
    )
    handler(event("/orders/42", "req-1", "POST", body=b"{}"), LambdaContext())
    handler(event("/boom", "req-2"), LambdaContext())
    url_event = function_url_event("POST", "/orders/a%2Fb")
    url_event["requestContext"]["requestId"] = "req-3"
    handler(url_event, LambdaContext())

    access = [r for r in lines(stream) if r["message"] == "request"]
    assert [
        {k: r[k] for k in ("method", "path", "status", "request_id", "correlation_id", "level")}
        for r in access
    ] == [
        {
            "method": "POST",
            "path": "/orders/42",
            "status": 201,
            "request_id": "req-1",
            "correlation_id": "req-1",
            "level": "INFO",
        },
        # The status the client got: the adapter's 500, not a status the app never sent.
        {
            "method": "GET",
            "path": "/boom",
            "status": 500,
            "request_id": "req-2",
            "correlation_id": "req-2",
            "level": "INFO",
        },
        {
            "method": "POST",
            "path": "/orders/a/b",
            "status": 404,
            "request_id": "req-3",
            "correlation_id": "req-3",
            "level": "INFO",
        },
    ]
    assert all(type(r["duration_ms"]) is float and r["duration_ms"] >= 0 for r in access)
    assert all("error" not in r for r in access)


def test_access_log_line_for_an_event_the_adapter_refuses(log: tuple[Logger, io.StringIO]) -> None:
    logger, stream = log
    handler = instrument(
        LambdaAdapter(shop_app(logger), lifespan="off"), logger=logger, access_log=True
    )
    with pytest.raises(UnsupportedEventError):
        handler({"Records": [{"eventSource": "aws:sqs"}]}, LambdaContext())
    [line] = lines(stream)
    assert (line["message"], line["level"], line["error"]) == (
        "request",
        "INFO",
        "UnsupportedEventError",
    )
    # Nothing to report there: Powertools leaves keys without a value out of the line.
    assert {"method", "path", "status", "request_id", "correlation_id"}.isdisjoint(line)


def test_no_access_log_and_no_adapter_logs_when_off(log: tuple[Logger, io.StringIO]) -> None:
    logger, stream = log
    handler = instrument(
        LambdaAdapter(shop_app(logger), lifespan="off"), logger=logger, adapter_logs=False
    )
    handler(event("/boom", "req-1"), LambdaContext())
    assert [r["message"] for r in lines(stream)] == ["about to fail"]
    assert logging.getLogger("lambda_asgi").propagate is True


class RecordingSegment(BaseSegment):
    """A trace segment that remembers what was put on it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.annotations: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.exceptions: list[BaseException] = []

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata[key] = value

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.exceptions.append(exception)


class RecordingProvider(BaseProvider):
    """A Tracer provider that records subsegments and the correlation id seen on entry."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.segments: list[tuple[RecordingSegment, str | None]] = []

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[Any, None, None]:
        segment = RecordingSegment(name or "")
        self.segments.append((segment, self.logger.get_correlation_id()))
        yield segment

    def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Any) -> None:
        pass

    def patch_all(self) -> None:
        pass


def emf_blobs(out: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Metrics printed."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_logger_tracer_and_metrics_stack_over_the_adapter(
    log: tuple[Logger, io.StringIO], capsys: pytest.CaptureFixture[str]
) -> None:
    logger, stream = log
    provider = RecordingProvider(logger)
    tracer = Tracer(service="shop", provider=provider, disabled=False, auto_patch=False)
    metrics = Metrics(namespace="LambdaAsgiTest", service="shop")
    handler = instrument(
        LambdaAdapter(shop_app(logger, metrics), lifespan="off"),
        logger=logger,
        tracer=tracer,
        metrics=metrics,
        capture_cold_start_metric=True,
    )
    context = LambdaContext(function_name="shop-fn")

    first = handler(event("/orders/1", "req-1", "POST"), context)
    out_first = capsys.readouterr().out
    second = handler(event("/orders/2", "req-2", "POST"), context)
    out_second = capsys.readouterr().out

    assert (first["statusCode"], second["statusCode"]) == (201, 201)
    # Tracer: one "## handler" subsegment per invocation, opened inside the Logger's
    # decorator (the correlation id is already set), cold start annotated, no response body.
    assert [(s.name, cid, s.annotations) for s, cid in provider.segments] == [
        ("## handler", "req-1", {"ColdStart": True, "Service": "shop"}),
        ("## handler", "req-2", {"ColdStart": False, "Service": "shop"}),
    ]
    assert all(s.metadata == {} for s, _ in provider.segments)
    # Metrics: the app's metric flushed by log_metrics after each invocation; ColdStart once.
    first_blobs, second_blobs = emf_blobs(out_first), emf_blobs(out_second)
    assert sorted(b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for b in first_blobs) == [
        "ColdStart",
        "OrdersPlaced",
    ]
    assert [b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for b in second_blobs] == [
        "OrdersPlaced"
    ]
    assert all(
        b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LambdaAsgiTest" for b in first_blobs
    )
    # Logger: the app's lines carry each request's id.
    assert [(r["message"], r["correlation_id"]) for r in lines(stream)] == [
        ("order placed", "req-1"),
        ("order placed", "req-2"),
    ]


def test_tracer_records_the_app_failure_as_a_500_not_an_exception(
    log: tuple[Logger, io.StringIO],
) -> None:
    """The adapter answers 500 itself, so the traced handler returns normally."""
    logger, _ = log
    provider = RecordingProvider(logger)
    tracer = Tracer(service="shop", provider=provider, disabled=False, auto_patch=False)
    handler = instrument(
        LambdaAdapter(shop_app(logger), lifespan="off"), logger=logger, tracer=tracer
    )
    assert handler(event("/boom", "req-9"), LambdaContext())["statusCode"] == 500
    [(segment, correlation_id)] = provider.segments
    assert (segment.exceptions, correlation_id) == ([], "req-9")
