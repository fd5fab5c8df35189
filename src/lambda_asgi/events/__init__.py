"""Event sources: one module each, listed once in :data:`SOURCES`.

Detection is by event shape; each source's ``matches`` is exclusive of the others, so the order
below only matters for speed (most common first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UnsupportedEventError
from . import alb, function_url, http_api_v2, lambda_edge, lattice, rest_v1
from .base import EventSource

__all__ = ["SOURCES", "EventSource", "describe_event", "detect_source"]

SOURCES: tuple[EventSource, ...] = (
    http_api_v2.SOURCE,
    function_url.SOURCE,
    rest_v1.SOURCE,
    alb.SOURCE,
    lambda_edge.SOURCE,
    lattice.SOURCE_V2,
    lattice.SOURCE_V1,
)

_MARKED_SOURCES = tuple((source.marker, source) for source in SOURCES)


def detect_source(event: object) -> EventSource:
    """The source of ``event``, or :class:`UnsupportedEventError` saying what it looks like."""
    if type(event) is dict or isinstance(event, Mapping):
        for marker, source in _MARKED_SOURCES:
            if marker in event and source.matches(event):
                return source
    raise UnsupportedEventError(describe_event(event))


def describe_event(event: object) -> str:
    """A message for an event no source matches: what it looks like, its keys, what works."""
    supported = ", ".join(source.title for source in SOURCES)
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
