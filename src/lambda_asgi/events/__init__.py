"""Event sources: one module each, listed once in :data:`REGISTRY`.

Detection is by event shape; each source's ``matches`` is exclusive of the others, so the order
of the registry only matters for speed (most common first).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from importlib import import_module
from typing import Any

from ..errors import UnsupportedEventError
from .base import EventSource

__all__ = ["REGISTRY", "EventSource", "all_sources", "describe_event", "detect_source"]

#: Every source as ``(module, attribute)``, most common first. Adding a source is adding its
#: module and one line here.
REGISTRY: tuple[tuple[str, str], ...] = (
    ("http_api_v2", "SOURCE"),
    ("function_url", "SOURCE"),
    ("rest_v1", "SOURCE"),
    ("alb", "SOURCE"),
    ("lambda_edge", "SOURCE"),
    ("lattice", "SOURCE_V2"),
    ("lattice", "SOURCE_V1"),
)
# Cold start is part of every first request, so a function only imports the sources it sees: the
# payload 2.0 ones with this package, each later one the first time an event matches none of
# those before it (so a REST API function never imports the ALB or Lattice modules).
_EAGER = 2
# ``(marker, source)`` of the sources imported so far, in registry order. Replaced, never
# mutated, so detection can read it without the lock.
_marked: tuple[tuple[str, EventSource], ...] = ()
_import_lock = threading.Lock()


def _import_sources(count: int) -> tuple[tuple[str, EventSource], ...]:
    """The first ``count`` registry entries as ``(marker, source)``, importing those not yet."""
    global _marked
    with _import_lock:
        marked = _marked
        for module, attribute in REGISTRY[len(marked) : count]:
            source: EventSource = getattr(import_module(f".{module}", __name__), attribute)
            marked += ((source.marker, source),)
        _marked = marked
    return marked


_import_sources(_EAGER)


def all_sources() -> tuple[EventSource, ...]:
    """Every supported source, in registry order (imports those not imported yet)."""
    return tuple(source for _, source in _import_sources(len(REGISTRY)))


def detect_source(event: object) -> EventSource:
    """The source of ``event``, or :class:`UnsupportedEventError` saying what it looks like."""
    if type(event) is dict or isinstance(event, Mapping):
        marked = _marked
        for marker, source in marked:
            if marker in event and source.matches(event):
                return source
        for index in range(len(marked), len(REGISTRY)):
            marker, source = _import_sources(index + 1)[index]
            if marker in event and source.matches(event):
                return source
    raise UnsupportedEventError(describe_event(event))


def describe_event(event: object) -> str:
    """A message for an event no source matches: what it looks like, its keys, what works."""
    supported = ", ".join(source.title for source in all_sources())
    if not isinstance(event, Mapping):
        return (
            f"lambda-asgi serves HTTP events, but the event is a {type(event).__name__}, not a "
            f"JSON object. Supported sources: {supported}."
        )
    keys = ", ".join(sorted(map(str, event))[:20]) or "none"
    return (
        f"lambda-asgi cannot serve this event: it looks like {_guess_kind(event)}. "
        f"Top-level keys seen: {keys}. Supported sources: {supported}."
    )


def _guess_kind(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext")
    if isinstance(context, Mapping) and (
        "eventType" in context or ("connectionId" in context and "httpMethod" not in event)
    ):
        return (
            "an API Gateway WebSocket event (route "
            f"{context.get('routeKey', context.get('eventType'))!r}); WebSocket APIs need a "
            "persistent connection, which a Lambda invocation cannot give an ASGI app"
        )
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        first = records[0]
        origin = first.get("eventSource") or first.get("EventSource")
        if "cf" in first:
            cf = first["cf"] if isinstance(first["cf"], Mapping) else {}
            config = cf.get("config")
            event_type = config.get("eventType") if isinstance(config, Mapping) else None
            return (
                f"a Lambda@Edge {event_type or 'response'} event: response "
                "triggers carry CloudFront's response, not a request for the app (use a "
                "viewer-request or origin-request trigger)"
                if "response" in cf or "request" not in cf
                else "a CloudFront (Lambda@Edge) event of an unsupported kind"
            )
        return f"a batch of {origin or 'unknown'} records (not an HTTP request)"
    if "detail-type" in event and "source" in event:
        return f"an EventBridge event (source {event.get('source')!r}), not an HTTP request"
    if "agent" in event and "apiPath" in event:
        return "an Amazon Bedrock agent action-group event, not an HTTP proxy request"
    if "httpMethod" in event or "rawPath" in event or "routeKey" in event:
        return "an HTTP event of an unrecognised shape (is requestContext missing?)"
    return "a non-HTTP event"
