"""Exceptions raised by lambda-asgi for events and configuration it cannot serve."""

from __future__ import annotations

__all__ = [
    "AppLoadError",
    "ConfigurationError",
    "InvalidEventError",
    "LifespanError",
    "UnsupportedEventError",
]


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


class AppLoadError(ImportError):
    """The app's own code raised while its module was imported (or while its attribute was
    read), for example a typo such as ``os.enviro`` at import.

    The message names the app and the app's exception; that exception is the ``__cause__``,
    and this error carries its traceback, so a log that shows one traceback shows the app's
    line. It is an :class:`ImportError`, never an :class:`AttributeError`, so reading
    ``lambda_asgi.handler`` cannot turn it into "handler missing".
    """


class LifespanError(RuntimeError):
    """The app's ASGI lifespan startup failed (``lifespan.startup.failed`` or an exception)."""
