"""Powertools for AWS Lambda (Python) over a :class:`~lambda_asgi.LambdaAdapter`.

Install the ``[powertools]`` extra. :func:`instrument` returns the handler you would write by
hand with Powertools' own decorators, outermost first::

    adapter = LambdaAdapter(app)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event, context):
        return adapter(event, context)

plus two things only an adapter can do:

* lambda-asgi's own log lines (an app that failed, the deadline guard, leftover tasks) go
  through the Powertools Logger, so they are JSON and carry the same correlation id and
  Lambda context keys as the app's lines (``copy_config_to_registered_loggers``);
* an optional access log line per request (method, path, status, duration, request id).

Nothing here re-implements Powertools: the decorators, the correlation id (a JMESPath into the
event), the EMF flush and the X-Ray subsegment are Powertools' own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from .adapter import LambdaAdapter
from .errors import InvalidEventError, UnsupportedEventError
from .events import detect_source

__all__ = ["CORRELATION_ID_PATH", "instrument"]

#: Where the correlation id is in the event: ``requestContext.requestId``, the id API Gateway
#: (REST and HTTP API) and Function URLs give each request. Events without it (ALB) get none.
CORRELATION_ID_PATH = correlation_paths.API_GATEWAY_HTTP

LambdaHandler = Callable[[Any, Any], dict[str, Any]]


def instrument(
    adapter: LambdaAdapter,
    *,
    logger: Logger,
    tracer: Tracer | None = None,
    metrics: Metrics | None = None,
    correlation_id_path: str = CORRELATION_ID_PATH,
    access_log: bool = False,
    adapter_logs: bool = True,
    capture_cold_start_metric: bool = False,
    trace_response: bool = False,
) -> LambdaHandler:
    """The Lambda handler: ``adapter`` under Powertools' handler decorators.

    Stacked outermost first: ``logger.inject_lambda_context`` (Lambda context keys, cold
    start, and the correlation id read from ``correlation_id_path``), then
    ``tracer.capture_lambda_handler`` and ``metrics.log_metrics`` when given. So every line
    logged while the request runs, by the app or by the adapter, carries the request's
    correlation id.

    Options:
        access_log: log one ``"request"`` line per invocation through ``logger`` with
            ``method``, ``path``, ``status`` (what the client gets, the adapter's own 500/504
            included), ``duration_ms`` and ``request_id``.
        adapter_logs: route the ``lambda_asgi`` logger through ``logger``'s handler
            (Powertools' ``copy_config_to_registered_loggers``); it stops propagating to the
            root logger.
        capture_cold_start_metric: passed to ``metrics.log_metrics``.
        trace_response: record the response as X-Ray metadata. Off by default: an HTTP
            response can be large (X-Ray documents are limited to 64 KB) and private.
    """
    if adapter_logs:
        copy_config_to_registered_loggers(source_logger=logger, include={"lambda_asgi"})

    def handler(event: Any, context: Any) -> dict[str, Any]:
        return adapter(event, context)

    wrapped: Callable[..., Any] = handler
    if access_log:
        wrapped = _access_logged(adapter, logger)
    if metrics is not None:
        wrapped = metrics.log_metrics(wrapped, capture_cold_start_metric=capture_cold_start_metric)
    if tracer is not None:
        wrapped = tracer.capture_lambda_handler(wrapped, capture_response=trace_response)
    instrumented: LambdaHandler = logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_id_path
    )
    return instrumented


def _access_logged(adapter: LambdaAdapter, logger: Logger) -> LambdaHandler:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        status: object = None
        error: str | None = None
        try:
            result = adapter(event, context)
            status = result.get("statusCode")
            return result
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            method, path = _request_line(adapter, event, context)
            fields: dict[str, object] = {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": logger.get_correlation_id(),
            }
            if error is not None:
                fields["error"] = error
            logger.info("request", extra=fields)

    # Named "handler" like the plain one: Tracer names its subsegment "## handler".
    return handler


def _request_line(
    adapter: LambdaAdapter, event: Any, context: Any
) -> tuple[str | None, str | None]:
    """``(method, path)`` as the app saw them, from the source that reads ``event``.

    The scope is built again without the body (so no base64 decoding): a few microseconds,
    paid only with ``access_log=True``, and the same code path as the request itself.
    """
    try:
        source = detect_source(event)
        bodiless: Mapping[str, Any] = {**event, "body": None, "isBase64Encoded": False}
        scope, _ = source.to_scope(bodiless, context, adapter.config)
    except (UnsupportedEventError, InvalidEventError, UnicodeEncodeError):
        return None, None
    return scope["method"], scope["path"]
