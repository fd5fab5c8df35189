"""A client of the Lambda Runtime API over one kept-alive HTTP/1.1 connection.

Written on raw sockets (standard library only) rather than ``http.client`` because a streamed
response must end with HTTP trailers (``Lambda-Runtime-Function-Error-Type`` / ``-Body``),
which ``http.client`` cannot send, and because the loop's hot path (``/next`` then
``/response``) is two small requests whose parsing we keep to a few C-level calls.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HTTP_INTEGRATION_CONTENT_TYPE",
    "NextInvocation",
    "ResponseStreamWriter",
    "RuntimeAPIError",
    "RuntimeClient",
    "StreamAbortedError",
]

#: Content type of a streamed HTTP response: JSON prelude, 8 NUL bytes, then the raw body.
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"

_API = "/2018-06-01/runtime"
_EXTENSION_API = "/2020-01-01/extension"
_MAX_LINE = 65536
_ERROR_TRAILERS = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
# Bodies up to this size go out with their headers in one send (one packet on loopback).
_COALESCE = 65536
# AWS's runtime drops an X-Ray error cause past 1 MiB; we stop under the 64 KiB header line
# that common HTTP servers (the local Runtime API's too) accept, losing only huge stacks.
_XRAY_CAUSE_LIMIT = 60 * 1024


class RuntimeAPIError(RuntimeError):
    """The Runtime API answered a request with an unexpected status.

    ``status`` and ``body`` are the API's answer; a 500 means the execution environment is
    broken and the runtime should exit.
    """

    def __init__(self, what: str, status: int, body: bytes) -> None:
        text = body[:500].decode("utf-8", "replace")
        super().__init__(f"Runtime API {what} failed with HTTP {status}: {text}")
        self.status = status
        self.body = body


class StreamAbortedError(ConnectionError):
    """The Runtime API stopped reading a streamed response (connection closed or reset)."""


@dataclass(slots=True)
class NextInvocation:
    """One event from ``/runtime/invocation/next`` and its headers."""

    request_id: str
    """``Lambda-Runtime-Aws-Request-Id``."""
    body: bytes
    """The event, as JSON bytes."""
    deadline_ms: int
    """``Lambda-Runtime-Deadline-Ms``: the deadline, in milliseconds since the epoch."""
    invoked_function_arn: str
    """``Lambda-Runtime-Invoked-Function-Arn``."""
    trace_id: str | None
    """``Lambda-Runtime-Trace-Id`` (copied into ``_X_AMZN_TRACE_ID``)."""
    client_context: str | None
    """``Lambda-Runtime-Client-Context`` (JSON), for mobile SDK invocations."""
    cognito_identity: str | None
    """``Lambda-Runtime-Cognito-Identity`` (JSON), for mobile SDK invocations."""
    tenant_id: str | None = None
    """``Lambda-Runtime-Aws-Tenant-Id``, for tenant-isolated functions."""


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class RuntimeClient:
    """Requests to the Runtime API at ``address`` (``host:port``, as in
    ``AWS_LAMBDA_RUNTIME_API``), over one connection reopened when the API closes it."""

    def __init__(self, address: str) -> None:
        host, sep, port = address.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(
                f"AWS_LAMBDA_RUNTIME_API={address!r} is not host:port (for example 127.0.0.1:9001)"
            )
        self.address = address.strip()
        self._host = host.strip("[]")
        self._port = int(port)
        self._host_header = f"Host: {self.address}\r\n".encode("latin-1")
        self._sock: socket.socket | None = None
        self._rfile: Any = None

    # -- the Runtime API ---------------------------------------------------------------

    def next_invocation(self) -> NextInvocation:
        """Wait (without a timeout: Lambda may freeze the process meanwhile) for an event."""
        response = self._request("GET", f"{_API}/invocation/next")
        if response.status != 200:
            raise RuntimeAPIError("GET /runtime/invocation/next", response.status, response.body)
        headers = response.headers
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise RuntimeAPIError(
                "GET /runtime/invocation/next (no Lambda-Runtime-Aws-Request-Id header)",
                response.status,
                response.body,
            )
        deadline = headers.get("lambda-runtime-deadline-ms", "")
        return NextInvocation(
            request_id=request_id,
            body=response.body,
            deadline_ms=int(deadline) if deadline.isdigit() else 0,
            invoked_function_arn=headers.get("lambda-runtime-invoked-function-arn", ""),
            trace_id=headers.get("lambda-runtime-trace-id"),
            client_context=headers.get("lambda-runtime-client-context"),
            cognito_identity=headers.get("lambda-runtime-cognito-identity"),
            tenant_id=headers.get("lambda-runtime-aws-tenant-id"),
        )

    def post_response(
        self, request_id: str, body: bytes, content_type: str = "application/json"
    ) -> None:
        """Post a buffered response (``RuntimeAPIError`` with status 413 when too large)."""
        response = self._request(
            "POST",
            f"{_API}/invocation/{request_id}/response",
            (("Content-Type", content_type),),
            body,
        )
        if response.status != 202:
            raise RuntimeAPIError("POST /response", response.status, response.body)

    def start_stream(self, request_id: str, content_type: str) -> ResponseStreamWriter:
        """Open a streamed ``/response`` (chunked, error trailers declared up front)."""
        head = _request_head(
            "POST",
            f"{_API}/invocation/{request_id}/response",
            self._host_header,
            (
                ("Content-Type", content_type),
                ("Lambda-Runtime-Function-Response-Mode", "streaming"),
                ("Transfer-Encoding", "chunked"),
                ("Trailer", _ERROR_TRAILERS),
            ),
        )
        sock = self._connection()
        try:
            sock.sendall(head)
        except OSError:
            # A kept-alive connection the API closed meanwhile: one fresh attempt.
            self.close()
            sock = self._connection()
            sock.sendall(head)
        return ResponseStreamWriter(self, sock)

    def post_invocation_error(
        self, request_id: str, error: Mapping[str, Any], error_type: str, xray_cause: str = ""
    ) -> None:
        """Report a failed invocation (only before the first byte of a response), with the
        X-Ray error cause when there is one (dropped past 60 KiB)."""
        extra = (
            (("Lambda-Runtime-Function-XRay-Error-Cause", xray_cause),)
            if xray_cause and len(xray_cause) < _XRAY_CAUSE_LIMIT
            else ()
        )
        self._post_error(f"{_API}/invocation/{request_id}/error", error, error_type, extra)

    def post_init_error(self, error: Mapping[str, Any], error_type: str) -> None:
        """Report a failed init phase; the runtime exits next."""
        self._post_error(f"{_API}/init/error", error, error_type)

    def restore_next(self) -> None:
        """SnapStart: say the before-snapshot work is done; returns once restored."""
        response = self._request("GET", f"{_API}/restore/next")
        if response.status != 200:
            raise RuntimeAPIError("GET /runtime/restore/next", response.status, response.body)

    def post_restore_error(self, error: Mapping[str, Any], error_type: str) -> None:
        """SnapStart: report a failed after-restore hook."""
        self._post_error(f"{_API}/restore/error", error, error_type)

    def register_extension(self, name: str, events: Sequence[str] = ()) -> str:
        """Register an (internal) extension; returns its ``Lambda-Extension-Identifier``.

        Registering one, even for no events, is what makes Lambda send SIGTERM to the
        runtime before it shuts the environment down.
        """
        response = self._request(
            "POST",
            f"{_EXTENSION_API}/register",
            (("Lambda-Extension-Name", name), ("Content-Type", "application/json")),
            json.dumps({"events": list(events)}).encode(),
        )
        if response.status != 200:
            raise RuntimeAPIError("POST /extension/register", response.status, response.body)
        return response.headers.get("lambda-extension-identifier", "")

    def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        sock, self._sock = self._sock, None
        self._rfile = None
        if sock is not None:
            sock.close()

    # -- HTTP/1.1 ----------------------------------------------------------------------

    def _post_error(
        self,
        path: str,
        error: Mapping[str, Any],
        error_type: str,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        response = self._request(
            "POST",
            path,
            (
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Function-Error-Type", error_type),
                *extra_headers,
            ),
            json.dumps(error, default=str).encode(),
        )
        if response.status != 202:
            raise RuntimeAPIError(f"POST {path}", response.status, response.body)

    def _connection(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            sock = socket.create_connection((self._host, self._port))
            # Streamed chunks must leave at once, not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._rfile = sock.makefile("rb")
        return sock

    def _request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> _Response:
        head = _request_head(method, path, self._host_header, headers, len(body))
        reused = self._sock is not None
        try:
            self._send(head, body)
            return self.read_response()
        except (ConnectionError, _ClosedError):
            self.close()
            if not reused:
                raise
        # The API closed the idle kept-alive connection: the request was not processed.
        self._send(head, body)
        return self.read_response()

    def _send(self, head: bytes, body: bytes) -> None:
        sock = self._connection()
        if len(body) <= _COALESCE:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.sendall(body)

    def read_response(self) -> _Response:
        """Read one HTTP response from the connection (Content-Length, chunked or close)."""
        rfile = self._rfile
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise _ClosedError("the Runtime API closed the connection")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            self.close()
            raise RuntimeAPIError("read (malformed status line)", 0, line)
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = rfile.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        length = headers.get("content-length")
        if length is not None:
            body = _read_exact(rfile, int(length))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = _read_chunked(rfile)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = rfile.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return _Response(status, headers, body)


class _ClosedError(ConnectionError):
    pass


class ResponseStreamWriter:
    """The body of a streamed ``/response``, written as HTTP/1.1 chunks as it is produced."""

    __slots__ = ("_client", "_sock", "bytes_sent")

    def __init__(self, client: RuntimeClient, sock: socket.socket) -> None:
        self._client = client
        self._sock = sock
        self.bytes_sent = 0

    def write(self, data: bytes) -> None:
        """Send ``data`` as one chunk now (empty data is skipped: it would end the body)."""
        if not data:
            return
        try:
            _send_parts(self._sock, (b"%X\r\n" % len(data), data, b"\r\n"))
        except OSError as exc:
            self._client.close()
            raise StreamAbortedError(
                f"the Runtime API stopped reading the streamed response after "
                f"{self.bytes_sent} bytes ({exc})"
            ) from exc
        self.bytes_sent += len(data)

    def finish(self, trailers: Mapping[str, str] | None = None) -> None:
        """End the body (with ``trailers``, to report an error) and read the API's answer."""
        tail = [b"0\r\n"]
        for name, value in (trailers or {}).items():
            tail.append(f"{name}: {value}\r\n".encode("latin-1"))
        tail.append(b"\r\n")
        try:
            self._sock.sendall(b"".join(tail))
            response = self._client.read_response()
        except OSError as exc:
            self._client.close()
            raise StreamAbortedError(
                f"the Runtime API closed the streamed response before its end ({exc})"
            ) from exc
        if response.status != 202:
            raise RuntimeAPIError("POST /response (streaming)", response.status, response.body)

    def abort(self) -> None:
        """Drop the connection without ending the body (the API sees an incomplete stream)."""
        self._client.close()


def _request_head(
    method: str,
    path: str,
    host_header: bytes,
    headers: Sequence[tuple[str, str]],
    length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1\r\n".encode("latin-1"), host_header]
    for name, value in headers:
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    if length is not None and (length or method != "GET"):
        lines.append(b"Content-Length: %d\r\n" % length)
    lines.append(b"\r\n")
    return b"".join(lines)


def _send_parts(sock: socket.socket, parts: Sequence[bytes]) -> None:
    """Send ``parts`` in one gather write where possible (no copy of a large chunk)."""
    if not hasattr(sock, "sendmsg"):  # pragma: no cover - Windows
        sock.sendall(b"".join(parts))
        return
    sent = sock.sendmsg(parts)
    for part in parts:
        size = len(part)
        if sent >= size:
            sent -= size
            continue
        sock.sendall(memoryview(part)[sent:])
        sent = 0


def _read_exact(rfile: Any, size: int) -> bytes:
    data: bytes = rfile.read(size)
    if len(data) != size:
        raise _ClosedError(
            f"the Runtime API closed the connection after {len(data)} of {size} bytes"
        )
    return data


def _read_chunked(rfile: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise _ClosedError("the Runtime API closed the connection inside a chunked body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers of a response: not used by the Runtime API
            return b"".join(chunks)
        chunks.append(_read_exact(rfile, size))
        rfile.readline(_MAX_LINE)
