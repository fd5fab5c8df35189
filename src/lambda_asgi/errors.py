"""Exceptions raised by lambda-asgi for events and configuration it cannot serve."""

from __future__ import annotations

__all__ = ["ConfigurationError", "InvalidEventError", "LifespanError", "UnsupportedEventError"]


class UnsupportedEventError(ValueError):
    """The event is not an HTTP event of a source lambda-asgi serves.

    The message names what the event looks like, the top-level keys seen and the supported
    sources. Raised (never turned into a response) so that a non-HTTP trigger such as SQS
    records a failure instead of silently dropping its batch.
    """


class InvalidEventError(ValueError):
    """The event is of a known HTTP source but a field is malformed (for example a body
    flagged ``isBase64Encoded`` that is not base64). The message names the field."""


class ConfigurationError(ValueError):
    """An adapter option or ``LAMBDA_ASGI_*`` environment variable is wrong; the message says
    what to set."""


class LifespanError(RuntimeError):
    """The app's ASGI lifespan startup failed (``lifespan.startup.failed`` or an exception)."""
