"""The shape every event source shares, and the helpers they build on.

An event source is one module in this package defining one :class:`EventSource` subclass and
one instance of it. The registry in ``events/__init__.py`` lists the instances: adding a source
is one module and one registry line.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from ..config import AdapterConfig
from ..errors import InvalidEventError

__all__ = [
    "ASGI_VERSION",
    "LAMBDA_PAYLOAD_LIMIT",
    "EventSource",
    "ResponseHeaders",
    "decode_body",
    "encode_body",
    "get_map",
    "header_pairs",
    "quote_path",
    "server_from_host",
    "split_root_path",
]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}

#: Lambda's limit on a buffered (synchronous) invocation payload, request or response.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024

# Characters left as they are when a decoded path is re-encoded for ``raw_path``.
_PATH_SAFE = "/!$&'()*+,;=:@~-._"


class EventSource(ABC):
    """One kind of Lambda HTTP event: how to recognise it, read it and answer it."""

    #: Short, stable name (``"http-api-v2"``), used in logs, errors and the CLI.
    name: str
    #: What users call it (``"API Gateway HTTP API (payload 2.0)"``).
    title: str
    #: Largest response (final JSON) this source accepts, in bytes.
    response_limit: int = LAMBDA_PAYLOAD_LIMIT

    @abstractmethod
    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` is of this source (cheap key checks; never raises)."""

    @abstractmethod
    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        """The ASGI HTTP scope and the request body for ``event``.

        Raises :class:`InvalidEventError` naming the field when the event is malformed.
        """

    @abstractmethod
    def to_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        event: Mapping[str, Any],
        config: AdapterConfig,
    ) -> dict[str, Any]:
        """The proxy response this source expects for an app's response."""


class ResponseHeaders:
    """An app's response headers, grouped by lower-cased name, ``exclude_headers`` removed.

    Header names are emitted lower-cased by every source (HTTP/2 requires it and API Gateway,
    ALB and CloudFront treat names case-insensitively); values keep their bytes (latin-1).
    """

    __slots__ = ("content_encoding", "content_type", "groups")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]], exclude: frozenset[str]) -> None:
        groups: dict[str, list[str]] = {}
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1").lower()
            if name in exclude:
                continue
            value = raw_value.decode("latin-1")
            if name in groups:
                groups[name].append(value)
            else:
                groups[name] = [value]
        self.groups = groups
        content_type = groups.get("content-type")
        self.content_type = content_type[-1].lower() if content_type else ""
        encoding = groups.get("content-encoding")
        self.content_encoding = encoding[-1].strip().lower() if encoding else ""

    @classmethod
    def json(cls) -> ResponseHeaders:
        """Headers of the JSON error responses the adapter itself produces."""
        return cls(((b"content-type", b"application/json"),), frozenset())

    def joined(self, exclude: str = "") -> dict[str, str]:
        """One value per name, repeats joined with ``", "`` (``exclude``: a name to leave out)."""
        return {
            name: values[0] if len(values) == 1 else ", ".join(values)
            for name, values in self.groups.items()
            if name != exclude
        }


def get_map(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``event[key]`` as a mapping: absent and ``null`` become empty; other types are an error."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEventError(
            f"event field {key!r} must be an object or null, got {type(value).__name__}"
        )
    return value


def encode_header_value(value: object, where: str) -> bytes:
    """A header value from an event as bytes (latin-1, or UTF-8 where latin-1 cannot hold it)."""
    if not isinstance(value, str):
        raise InvalidEventError(f"header values must be strings, got {value!r} in {where}")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def header_pairs(headers: Mapping[str, Any], where: str) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs (names lower-cased) from a ``{name: value}`` map of an event."""
    return [
        (str(name).lower().encode("latin-1", "replace"), encode_header_value(value, where))
        for name, value in headers.items()
        if value is not None
    ]


def decode_body(event: Mapping[str, Any]) -> bytes:
    """The request body bytes: ``body`` (null, absent or a string), base64 when flagged."""
    body = event.get("body")
    if not body:
        return b""
    if not isinstance(body, str):
        raise InvalidEventError(
            f"event field 'body' must be a string or null, got {type(body).__name__}"
        )
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            raise InvalidEventError(
                "event field 'body' is flagged isBase64Encoded but is not valid base64"
            ) from None
    return body.encode("utf-8", "surrogateescape")


def encode_body(body: bytes, headers: ResponseHeaders, config: AdapterConfig) -> tuple[str, bool]:
    """The body as the proxy response carries it: ``(text, False)`` or ``(base64, True)``.

    Text only when the content type is textual AND there is no content encoding (a gzip JSON
    body is bytes) AND it is valid UTF-8.
    """
    if not body:
        return "", False
    if config.is_text(headers.content_type, headers.content_encoding):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def quote_path(path: str) -> bytes:
    """Percent-encode a decoded path for ``raw_path`` (reserved characters kept)."""
    return quote(path, safe=_PATH_SAFE).encode("ascii")


def split_root_path(path: str, prefixes: Iterable[str]) -> str:
    """The ``root_path``: each non-empty prefix in order that ``path`` still starts with.

    ``path`` is the full path (ASGI: it includes ``root_path``). Prefixes are ``/segment``
    forms; a prefix only counts on a segment boundary (``/prod`` is not a prefix of
    ``/products``).
    """
    root = ""
    for prefix in prefixes:
        if not prefix:
            continue
        candidate = root + prefix
        if path == candidate or path.startswith(candidate + "/"):
            root = candidate
    return root


def server_from_host(host: str | None, port_header: str | None, scheme: str) -> tuple[str, int]:
    """``scope["server"]`` from the Host header (only used for that, never for trust)."""
    default_port = 443 if scheme == "https" else 80
    if not host:
        return ("localhost", default_port)
    name, sep, port = host.rpartition(":")
    # "[::1]:8080" has a port; a bare "::1" or "[::1]" has none.
    if sep and port.isdigit() and (name.endswith("]") or ":" not in name):
        return (name, int(port))
    if port_header and port_header.isdigit():
        return (host, int(port_header))
    return (host, default_port)
