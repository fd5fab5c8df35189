"""What to do with a streamed response (``more_body=True``) in buffered (non-streaming) mode.

Buffer it within the payload limit, or refuse it with a clear error. Real streaming, through
the Lambda Runtime API, lives in :mod:`lambda_asgi.runtime`.
"""

from __future__ import annotations

from typing import Any, Literal

from .sync_bridge import SyncResponse

__all__ = ["BufferedStreamError", "StreamingMode", "buffer_stream", "payload_too_large"]

StreamingMode = Literal["auto", "reject"]

_MB = 1024 * 1024


class BufferedStreamError(Exception):
    """A streamed response cannot be returned as one buffered Lambda response.

    ``status`` is the HTTP status to answer with; ``str(exc)`` says why and what to do.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def buffer_stream(response: SyncResponse, *, mode: StreamingMode, limit: int) -> bytes:
    """The whole body of a streamed response, collected within ``limit`` bytes.

    Raises :class:`BufferedStreamError` (and cancels the app) when ``mode`` is ``"reject"``,
    when the response is Server-Sent Events (which never end in a buffered invocation), or
    when the body passes ``limit``.
    """
    stream = response.stream
    assert stream is not None, "buffer_stream takes a response with needs_async=True"
    if mode == "reject":
        stream.close()
        raise BufferedStreamError(
            500,
            "The app streamed its response (more_body=True) and the adapter is configured with "
            "streaming='reject'. Return the body in one message, or enable response streaming "
            "(LAMBDA_ASGI_INVOKE_MODE=response_stream with a Function URL in RESPONSE_STREAM "
            "invoke mode).",
        )
    if (stream.content_type or b"").startswith(b"text/event-stream"):
        stream.close()
        raise BufferedStreamError(
            500,
            "The app answered with Server-Sent Events (text/event-stream), which cannot be "
            "delivered by a buffered Lambda invocation. Use a Function URL with InvokeMode "
            "RESPONSE_STREAM and set LAMBDA_ASGI_INVOKE_MODE=response_stream.",
        )
    chunks = [response.body]
    size = len(response.body)
    for chunk in stream:
        size += len(chunk)
        if size > limit:
            stream.close()
            raise BufferedStreamError(
                502,
                f"The streamed response body passed {limit / _MB:g} MB, the limit of a "
                "buffered Lambda response. Enable response streaming "
                "(LAMBDA_ASGI_INVOKE_MODE=response_stream with a Function URL in "
                "RESPONSE_STREAM invoke mode) for large bodies.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def payload_too_large(result: dict[str, Any], limit: int) -> bool:
    """Whether the proxy response, serialised as Lambda will, is over ``limit`` bytes.

    Cheap for the common case: JSON escaping at most multiplies a string by 12 (a non-BMP
    character becomes two ``\\uXXXX`` escapes), so small bodies skip serialisation. The
    64 KB of headroom is for the headers, which are not measured on this fast path: headers
    larger than that (pathological) are left to Lambda's own payload check.
    """
    body = result.get("body")
    if isinstance(body, str) and len(body) * 12 + 65536 < limit:
        return False
    import json  # rarely needed: kept off the import path (cold start)

    return len(json.dumps(result)) > limit
