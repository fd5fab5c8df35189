"""Posting an ASGI response to the Runtime API as a Lambda response stream.

The stream body is the HTTP integration framing: a JSON prelude (``statusCode``, ``headers``,
``cookies``, and ``multiValueHeaders`` for sources that use it), exactly 8 NUL bytes, then
the raw body bytes as the app sends them. The prelude is the source's own proxy response
(``EventSource.to_response``) without its body, so header grouping, excluded headers and
cookies follow the same rules as a buffered response.

The delimiter must come within the first 16 KiB of the stream (:data:`PRELUDE_LIMIT`). A
response whose headers and cookies do not fit is never sent: the invocation is reported to
``/error`` before the first byte (:class:`ResponseHeadersTooLargeError`), so the caller gets
the front door's 502 and the failure shows in the function's error metrics and logs, rather
than a prelude the front door would reject anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from ..adapter import Invocation, LambdaAdapter
from ..errors import InvalidEventError
from ..events.base import ResponseHeaders, decode_body
from ..sync_bridge import ResponseStream
from .client import HTTP_INTEGRATION_CONTENT_TYPE, RuntimeClient, StreamAbortedError
from .faults import RuntimeFault, stream_error_trailers

__all__ = [
    "DELIMITER",
    "PRELUDE_LIMIT",
    "ResponseHeadersTooLargeError",
    "http_prelude",
    "post_proxy_as_stream",
    "post_streamed",
]

logger = logging.getLogger("lambda_asgi")

#: Separates the JSON prelude from the body in a streamed HTTP response.
DELIMITER = b"\x00" * 8
#: The JSON prelude and its delimiter must fit in the first 16 KiB of a streamed response.
PRELUDE_LIMIT = 16 * 1024

_BODY_KEYS = ("body", "isBase64Encoded")


class ResponseHeadersTooLargeError(RuntimeFault):
    """A streamed response's status, headers and cookies do not fit in the 16 KiB prelude."""

    def __init__(self, size: int) -> None:
        super().__init__(
            "Function.ResponseHeadersTooLarge",
            f"The response's headers and cookies make a {size}-byte stream prelude; Lambda "
            f"requires it (with its 8-byte delimiter) within the first {PRELUDE_LIMIT} bytes of "
            "a streamed response. Send fewer or smaller headers and cookies.",
        )
        self.size = size


def http_prelude(proxy: Mapping[str, Any]) -> bytes:
    """The prelude and delimiter for a source's proxy response (its body keys dropped).

    Raises :class:`ResponseHeadersTooLargeError` when they exceed :data:`PRELUDE_LIMIT`.
    """
    prelude = {key: value for key, value in proxy.items() if key not in _BODY_KEYS}
    prelude.setdefault("cookies", [])
    data = json.dumps(prelude, separators=(",", ":")).encode() + DELIMITER
    if len(data) > PRELUDE_LIMIT:
        raise ResponseHeadersTooLargeError(len(data))
    return data


def post_proxy_as_stream(client: RuntimeClient, request_id: str, proxy: Mapping[str, Any]) -> None:
    """Send a complete proxy response (a plain handler's, or the adapter's own) with the
    streaming framing, in one chunk.

    All of it is checked before the stream starts, as an error can only go to ``/error``
    before the first byte: :class:`ResponseHeadersTooLargeError` when the prelude does not
    fit, a ``Runtime.MarshalError`` :class:`RuntimeFault` when the body is not text (or not
    the base64 it is flagged as). Nothing is sent then.
    """
    data = http_prelude(proxy) + _response_body(proxy)
    writer = client.start_stream(request_id, HTTP_INTEGRATION_CONTENT_TYPE)
    writer.write(data)
    writer.finish()


def _response_body(proxy: Mapping[str, Any]) -> bytes:
    try:
        return decode_body(proxy)
    except InvalidEventError:
        body = proxy.get("body")
        problem = (
            "it is flagged \"isBase64Encoded\": true but its 'body' is not valid base64"
            if isinstance(body, str)
            else f"its 'body' must be a string or null, got {type(body).__name__}"
        )
        raise RuntimeFault(
            "Runtime.MarshalError",
            f"The handler's response cannot be streamed: {problem}. Return the body as a "
            "string (json.dumps() a JSON body), or binary data base64-encoded with "
            '"isBase64Encoded": true.',
        ) from None


def post_streamed(
    client: RuntimeClient,
    request_id: str,
    adapter: LambdaAdapter,
    invocation: Invocation,
) -> bool:
    """Stream the app's response: its first (or only) body message, then each further chunk
    as the app sends it.

    Memory stays bounded: each chunk is written to the socket before the app is let run on
    to produce the next. An app failing after the first byte is reported through the error
    trailers. Returns False when the app was stopped before the end of its response (so there
    is no post-response work to run). Raises :class:`ResponseHeadersTooLargeError`, with
    nothing sent (and an app still streaming stopped), when the prelude does not fit.
    """
    response = invocation.streamed
    assert response is not None
    # None when the app sent its whole body in one message: then there is nothing to stop.
    stream = response.stream
    headers = ResponseHeaders(response.headers, adapter.config.exclude_headers)
    proxy = invocation.source.to_response(
        response.status, headers, b"", invocation.event, adapter.config
    )
    try:
        # The prelude is checked before the first byte: one too large goes to /error.
        prelude = http_prelude(proxy)
        writer = client.start_stream(request_id, HTTP_INTEGRATION_CONTENT_TYPE)
    except BaseException:
        _stop(stream)
        raise
    try:
        writer.write(prelude + response.body)
        for chunk in stream or ():
            writer.write(chunk)
    except StreamAbortedError as exc:
        logger.error("Streamed response %s aborted: %s", request_id, exc)
        return not _stop(stream)
    except Exception as exc:
        logger.error(
            "Streamed response %s failed after %d bytes: %s",
            request_id,
            writer.bytes_sent,
            exc,
            exc_info=exc.__cause__ or exc,
        )
        _stop(stream)
        kind = "Function.Timeout" if invocation.timed_out else None
        writer.finish(stream_error_trailers(exc, kind))
        return False
    except BaseException:
        _stop(stream)
        writer.abort()
        raise
    writer.finish()
    return True


def _stop(stream: ResponseStream | None) -> bool:
    """Cancel an app still streaming; False when there was none (its response is complete)."""
    if stream is None:
        return False
    stream.close()
    return True
