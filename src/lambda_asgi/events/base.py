"""The shape every event source shares, and the helpers they build on.

An event source is one module in this package defining one :class:`EventSource` subclass and
one instance of it. The registry in ``events/__init__.py`` lists the instances: adding a source
is one module and one registry line.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeGuard

from ..config import AdapterConfig
from ..errors import InvalidEventError

__all__ = [
    "ASGI_VERSION",
    "LAMBDA_PAYLOAD_LIMIT",
    "MAX_SINGLE_VALUE_COOKIES",
    "PATH_NEEDS_QUOTING",
    "REQUEST_NAMES",
    "RESPONSE_NAMES",
    "EventSource",
    "Memo",
    "ResponseHeaders",
    "body_bytes",
    "decode_body",
    "encode_body",
    "encode_query",
    "event_headers",
    "forwarded_client",
    "get_map",
    "header_pairs",
    "is_mapping",
    "join_cookies",
    "learn_request_names",
    "make_scope",
    "merged_items",
    "multi_header_pairs",
    "one_string_each",
    "one_value_each",
    "quote_path",
    "reason_phrase",
    "require_str",
    "requote",
    "server_from_host",
    "single_value_headers",
    "split_encoded_path",
    "split_root_path",
    "status_description",
    "unquote",
    "value_list",
    "with_cookies_joined",
]

logger = logging.getLogger("lambda_asgi")

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}

#: Lambda's limit on a buffered (synchronous) invocation payload, request or response.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024

# Characters left as they are when a decoded path is re-encoded for ``raw_path``.
_PATH_SAFE = "/!$&'()*+,;=:@~-._"
#: Matches a character of a decoded path that ``raw_path`` must percent-encode.
PATH_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9/!$&'()*+,;=:@~\-._]")
# What AWS front doors send in X-Forwarded-Port: looked up rather than parsed.
_STANDARD_PORTS = {"443": 443, "80": 80}
_STANDARD_PORT_BYTES = {b"443": 443, b"80": 80}


class Memo(dict[Any, Any]):
    """``compute(key)``, remembered for up to 1,024 keys: for per-request work on values
    that repeat across requests (header names), so each costs one dict lookup."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self.compute(key)
        # Bounded: events or apps that invent names cannot grow it for ever.
        if len(self) < 1024:
            self[key] = value
        return value


#: Event header name -> ASGI name (lower-cased latin-1 bytes; cached bytes also keep their
#: hash for the dict lookups that follow). A plain dict, for the fastest lookups: hot paths
#: that meet a name it lacks call :func:`learn_request_names` and look again.
REQUEST_NAMES: dict[str, bytes] = {}


def learn_request_names(names: Iterable[object]) -> bool:
    """Add the ASGI form of ``names`` to :data:`REQUEST_NAMES` (up to 1,024 names); whether
    every one of them is now there (a name that is not a string never is)."""
    known = REQUEST_NAMES
    for name in names:
        if name not in known:
            if type(name) is not str or len(known) >= 1024:
                return False
            try:
                known[name] = name.lower().encode("latin-1")
            except UnicodeEncodeError:
                return False
    return True


#: App response header name (bytes) -> lower-cased ``str``. A plain dict, as
#: :data:`REQUEST_NAMES`.
RESPONSE_NAMES: dict[bytes, str] = {}


def _unique_headers(pairs: list[tuple[bytes, bytes]]) -> dict[str, str] | None:
    """``{lower-case name: value}`` of an app's header pairs (the last value of a repeated
    name), or ``None`` for a name that is not ``bytes`` or that the table cannot learn."""
    names = RESPONSE_NAMES
    try:
        return {names[name]: value.decode("latin-1") for name, value in pairs}
    except KeyError:  # a name not seen before
        for name, _ in pairs:
            if name not in names:
                if type(name) is not bytes or len(names) >= 1024:
                    return None
                names[name] = name.decode("latin-1").lower()
        return _unique_headers(pairs)
    except TypeError:  # a bytearray name (unhashable)
        return None


class EventSource(ABC):
    """One kind of Lambda HTTP event: how to recognise it, read it and answer it."""

    #: Short, stable name (``"http-api-v2"``), used in logs, errors and the CLI.
    name: str
    #: What users call it (``"API Gateway HTTP API (payload 2.0)"``).
    title: str
    #: Largest response (final JSON) this source accepts, in bytes.
    response_limit: int = LAMBDA_PAYLOAD_LIMIT
    #: A top-level key every event of this source has: detection only asks :meth:`matches`
    #: of the sources whose marker the event holds.
    marker: str

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
    """An app's response headers, names lower-cased, ``exclude_headers`` removed.

    Header names are emitted lower-cased by every source (HTTP/2 requires it and API Gateway,
    ALB and CloudFront treat names case-insensitively); values keep their bytes (latin-1).
    :attr:`unique` is the ``{name: value}`` map when no name repeats (most responses), so
    sources can skip grouping; :attr:`groups` has every value of every name.
    """

    __slots__ = ("_groups", "content_encoding", "content_type", "unique")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]], exclude: frozenset[str]) -> None:
        pairs = raw if type(raw) is list else list(raw)
        unique: dict[str, str] | None
        try:
            unique = {RESPONSE_NAMES[name]: value.decode("latin-1") for name, value in pairs}
        except (KeyError, TypeError):  # a name not seen yet, or an unhashable bytearray
            unique = _unique_headers(pairs)
        groups: dict[str, list[str]] | None = None
        if unique is not None and (
            len(unique) != len(pairs) or (exclude and not exclude.isdisjoint(unique))
        ):
            unique = None
        if unique is None:
            # Rare: a repeated name (Set-Cookie) or an excluded one; group every value.
            groups = {}
            for raw_name, raw_value in pairs:
                name = raw_name.decode("latin-1").lower()
                if name not in exclude:
                    groups.setdefault(name, []).append(raw_value.decode("latin-1"))
            if all(len(values) == 1 for values in groups.values()):
                unique = {name: values[0] for name, values in groups.items()}
                groups = None
        self.unique = unique
        self._groups = groups
        # The last value of a repeated name counts.
        last = unique if unique is not None else {n: v[-1] for n, v in groups.items()}  # type: ignore[union-attr]
        content_type = last.get("content-type")
        encoding = last.get("content-encoding")
        # As sent (AdapterConfig.text_types lower-cases it once per distinct value).
        self.content_type = content_type or ""
        self.content_encoding = encoding.strip().lower() if encoding else ""

    @classmethod
    def json(cls) -> ResponseHeaders:
        """Headers of the JSON error responses the adapter itself produces."""
        return cls(((b"content-type", b"application/json"),), frozenset())

    @property
    def groups(self) -> dict[str, list[str]]:
        """``{name: [value, ...]}`` in the order the app sent the names."""
        groups = self._groups
        if groups is None:
            assert self.unique is not None
            groups = self._groups = {name: [value] for name, value in self.unique.items()}
        return groups

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` (lower-case), in order; empty if the app did not send it."""
        unique = self.unique
        if unique is not None:
            value = unique.get(name)
            return [] if value is None else [value]
        return self.groups.get(name, [])

    def joined(self, exclude: str = "") -> dict[str, str]:
        """One value per name, repeats joined with ``", "`` (``exclude``: a name to leave out)."""
        unique = self.unique
        if unique is not None:
            result = unique.copy()
            if exclude in result:
                del result[exclude]
            return result
        return {
            name: values[0] if len(values) == 1 else ", ".join(values)
            for name, values in self.groups.items()
            if name != exclude
        }


def get_map(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``event[key]`` as a mapping: absent and ``null`` become empty; other types are an error."""
    value = event.get(key)
    if type(value) is dict:
        return value
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
    try:
        # Fast path: string names and latin-1 string values, as AWS sends them. latin-1 is
        # the inverse of how ASGI frameworks decode header bytes.
        names = REQUEST_NAMES
        return [(names[name], value.encode("latin-1")) for name, value in headers.items()]
    except KeyError:  # a name not seen before
        if learn_request_names(headers):
            return header_pairs(headers, where)
    except (AttributeError, UnicodeEncodeError):
        pass
    return [
        (str(name).lower().encode("latin-1", "replace"), encode_header_value(value, where))
        for name, value in headers.items()
        if value is not None
    ]


def decode_body(event: Mapping[str, Any], flag: str = "isBase64Encoded") -> bytes:
    """The request body bytes: ``body`` (null, absent or a string), base64 when ``flag`` is set."""
    return body_bytes(event.get("body"), bool(event.get(flag)), "body")


def body_bytes(body: object, is_base64: bool, field: str) -> bytes:
    """Body bytes from an event's body text (``field`` names it in errors), base64 or UTF-8."""
    if not body:
        return b""
    if not isinstance(body, str):
        raise InvalidEventError(
            f"event field {field!r} must be a string or null, got {type(body).__name__}"
        )
    if is_base64:
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            raise InvalidEventError(
                f"event field {field!r} is flagged as base64 but is not valid base64"
            ) from None
    return body.encode("utf-8", "surrogateescape")


def encode_body(body: bytes, headers: ResponseHeaders, config: AdapterConfig) -> tuple[str, bool]:
    """The body as the proxy response carries it: ``(text, False)`` or ``(base64, True)``.

    Text only when the content type is textual AND there is no content encoding (a gzip JSON
    body is bytes) AND it is valid UTF-8.
    """
    if not body:
        return "", False
    encoding = headers.content_encoding
    # A gzip/br/deflate body is bytes, whatever its type.
    if (not encoding or encoding == "identity") and config.text_types[headers.content_type]:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


# Percent-coding without urllib.parse: importing it (with the ipaddress module it pulls in) costs
# a cold start about as much as all of lambda_asgi's own code, and its pure-Python quote and
# unquote cost more than all the rest of a request. Byte tables make each a few C-level calls.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
# safe characters -> what each byte 0-255 becomes: itself, or "%XX". A handful of safe sets.
_QUOTE_TABLES: dict[str, list[str]] = {}
# "%XX" escape digits (either case) -> the byte; built by the first unquote.
_HEX_BYTES: dict[str, bytes] = {}


def _quote(text: str, safe: str) -> str:
    """``urllib.parse.quote(text, safe)``: the UTF-8 bytes of ``text`` that are neither
    unreserved nor in ``safe`` become ``%XX`` (a lone surrogate raises UnicodeEncodeError)."""
    table = _QUOTE_TABLES.get(safe)
    if table is None:
        keep = _UNRESERVED | frozenset(safe.encode("ascii"))
        table = _QUOTE_TABLES[safe] = [
            chr(byte) if byte in keep else f"%{byte:02X}" for byte in range(256)
        ]
    # A list indexed by an int is the cheapest lookup there is (map(table.__getitem__, ...)
    # costs twice as much per byte).
    return "".join([table[byte] for byte in text.encode("utf-8")])


def unquote(text: str) -> str:
    """``urllib.parse.unquote(text)``: ``%XX`` escapes decoded as UTF-8 (invalid UTF-8 as
    U+FFFD); a ``%`` not followed by two hex digits stays as it is."""
    if "%" not in text:
        return text
    if not text.isascii():
        # Rare (AWS hands paths over ASCII): urllib keeps raw non-ASCII runs as they are.
        from urllib.parse import unquote as urllib_unquote

        return urllib_unquote(text)
    hex_bytes = _HEX_BYTES or _fill_hex_bytes()
    first, *escaped = text.split("%")
    decoded = [first.encode("ascii")]
    for part in escaped:
        byte = hex_bytes.get(part[:2])
        decoded.append(
            byte + part[2:].encode("ascii") if byte is not None else b"%" + part.encode("ascii")
        )
    return b"".join(decoded).decode("utf-8", "replace")


def _fill_hex_bytes() -> dict[str, bytes]:
    digits = "0123456789ABCDEFabcdef"
    _HEX_BYTES.update({a + b: bytes.fromhex(a + b) for a in digits for b in digits})
    return _HEX_BYTES


def quote_path(path: str) -> bytes:
    """Percent-encode a decoded path for ``raw_path`` (reserved characters kept)."""
    if PATH_NEEDS_QUOTING.search(path) is None:
        return path.encode("ascii")
    return _quote(path, _PATH_SAFE).encode("ascii")


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


def _is_port(text: str) -> bool:
    # ASCII digits only (str.isdigit() alone also accepts "²"), at most 5 of them.
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


def server_from_host(host: str | None, port_header: str | None, scheme: str) -> tuple[str, int]:
    """``scope["server"]`` from the Host header (only used for that, never for trust)."""
    default_port = 443 if scheme == "https" else 80
    if not host:
        return ("localhost", default_port)
    if ":" not in host:  # the common case: a bare DNS name
        standard = _STANDARD_PORTS.get(port_header)  # type: ignore[arg-type]
        if standard is not None:
            return (host, standard)
        if port_header and _is_port(port_header):
            return (host, int(port_header))
        return (host, default_port)
    name, sep, port = host.rpartition(":")
    # "[::1]:8080" has a port; a bare "::1" or "[::1]" has none.
    if sep and _is_port(port) and (name.endswith("]") or ":" not in name):
        return (name, int(port))
    if port_header and _is_port(port_header):
        return (host, int(port_header))
    return (host, default_port)


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, fast for the JSON objects Lambda hands over (dicts)."""
    return type(value) is dict or isinstance(value, Mapping)


# What stays as it is when text that should already be percent-encoded is made safe: existing
# escapes ("%") and every reserved character; spaces, quotes and non-ASCII get encoded.
_ENCODED_SAFE = "!#$%&'()*+,/:;=?@[]~"
# Fast-path checks: a regex search is cheaper than quoting text that needs none.
_NEEDS_REQUOTE = re.compile(r"[^A-Za-z0-9!#$%&'()*+,/:;=?@\[\]~._-]").search
_NEEDS_QUOTE = re.compile(r"[^A-Za-z0-9_.~-]").search
_NEEDS_QUERY_QUOTE = re.compile(r"[^A-Za-z0-9_.~=&-]").search


def requote(text: str) -> str:
    """Percent-encode what cannot appear raw in a URL, keeping existing escapes as they are.

    For paths and query strings that arrive already encoded (REST, ALB, Lattice, CloudFront):
    idempotent on well-formed input, and safe for a stray space or non-ASCII character.
    """
    return _quote(text, _ENCODED_SAFE) if _NEEDS_REQUOTE(text) else text


def split_encoded_path(raw: str) -> tuple[str, bytes]:
    """``(path, raw_path)`` for a path that arrives percent-encoded: decode it, keep the bytes.

    ``%2F`` stays in ``raw_path`` and becomes ``/`` in ``path`` (ASGI). A missing leading slash
    (some test consoles send ``api/x``) is added.
    """
    if not raw.startswith("/"):
        raw = "/" + raw
    return (unquote(raw) if "%" in raw else raw), requote(raw).encode("ascii")


def encode_query(pairs: Iterable[tuple[str, str]]) -> bytes:
    """A query string from DECODED ``(key, value)`` pairs: everything but unreserved encoded.

    ``+`` becomes ``%2B`` and a space ``%20``, so no parser can confuse them.
    """
    try:
        pairs = pairs if type(pairs) is list else list(pairs)
        # Concatenated, not formatted: a name or value that is no string raises TypeError.
        query = "&".join([key + "=" + value for key, value in pairs])
        # Most queries need no encoding: one search over all of it, and counting the
        # separators proves that no name or value holds a "=" or "&" of its own.
        if (
            _NEEDS_QUERY_QUOTE(query) is None
            and query.count("=") == len(pairs)
            and query.count("&") == len(pairs) - 1
        ):
            return query.encode("ascii")
        return "&".join(
            [
                f"{_quote(key, '') if _NEEDS_QUOTE(key) else key}="
                f"{_quote(value, '') if _NEEDS_QUOTE(value) else value}"
                for key, value in pairs
            ]
        ).encode("ascii")
    except TypeError:
        raise InvalidEventError("query string parameter names and values must be strings") from None


def require_str(value: object, field: str) -> str:
    """``value`` when it is a non-empty string, else :class:`InvalidEventError` naming ``field``."""
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"event field {field!r} is missing or not a non-empty string")
    return value


def value_list(value: object, where: str) -> list[str]:
    """A header or query value that may be one string or a list of strings, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidEventError(f"{where} must be a string or a list of strings, got {value!r}")


def merged_items(
    event: Mapping[str, Any], multi_key: str, single_key: str, *, fold_case: bool
) -> list[tuple[str, str]]:
    """``(name, value)`` pairs from ``event[multi_key]`` (name -> list), plus the entries of
    ``event[single_key]`` (name -> value) whose name the multi-value map lacks.

    The multi-value map keeps repeats that the single-value map drops; hand-made events often
    fill only one of the two (or both, differently), so nothing present in either is lost.
    ``fold_case`` compares names case-insensitively (headers) rather than exactly (queries).
    """
    multi = get_map(event, multi_key)
    single = get_map(event, single_key)
    # Element types are checked where values are encoded (the header and query helpers).
    items = [
        (name, value)
        for name, values in multi.items()
        for value in (values if type(values) is list else value_list(values, multi_key))
    ]
    if not single or single.keys() <= multi.keys():
        # What AWS sends: the single-value map holds a subset of the multi-value names.
        return items
    if multi and fold_case:
        seen = {str(name).lower() for name in multi}
        extra = [(n, v) for n, v in single.items() if str(n).lower() not in seen]
    else:
        extra = [(n, v) for n, v in single.items() if n not in multi]
    items += [
        (name, item)
        for name, value in extra
        for item in ((value,) if type(value) is str else value_list(value, single_key))
    ]
    return items


def multi_header_pairs(
    items: Iterable[tuple[str, str]], where: str
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]]:
    """``(headers, {name: value})``: ASGI header pairs (names lower-cased) from re-iterable
    ``(name, value)`` items that may repeat a name, and their map.

    Repeated headers stay separate pairs, except ``Cookie``: several become one header joined
    with ``"; "`` (RFC 6265), since frameworks read only the first ``cookie`` header.
    """
    try:
        # Fast path: string names and latin-1 string values, as AWS sends them.
        names = REQUEST_NAMES
        headers = [(names[name], value.encode("latin-1")) for name, value in items]
    except KeyError:  # a name not seen before
        if learn_request_names(name for name, _ in items):
            return multi_header_pairs(items, where)
        headers = _checked_header_pairs(items, where)
    except (AttributeError, TypeError, UnicodeEncodeError):
        headers = _checked_header_pairs(items, where)
    return with_cookies_joined(headers)


def _checked_header_pairs(
    items: Iterable[tuple[str, str]], where: str
) -> list[tuple[bytes, bytes]]:
    return [
        (str(name).lower().encode("latin-1", "replace"), encode_header_value(value, where))
        for name, value in items
        if value is not None
    ]


def event_headers(
    event: Mapping[str, Any], multi_key: str, single_key: str
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]]:
    """``(headers, {name: value})`` from an event's multi- and single-value header maps (see
    :func:`merged_items` and :func:`multi_header_pairs`), with fast paths for AWS's shapes."""
    multi = event.get(multi_key)
    if type(multi) is not dict:
        multi = get_map(event, multi_key)
    single = event.get(single_key)
    if type(single) is not dict:
        single = get_map(event, single_key)
    if not single or single.keys() <= multi.keys():
        # What AWS sends: the multi-value map has every name, each with a list of values.
        if multi:
            header_map = one_value_each(multi)
            if header_map is not None:
                return list(header_map.items()), header_map
        for _ in range(2):
            try:
                names = REQUEST_NAMES
                headers = [
                    (names[name], value.encode("latin-1"))
                    for name, values in multi.items()
                    for value in (values if type(values) is list else _not_a_list(values))
                ]
            except KeyError:  # a name not seen before
                if learn_request_names(multi):
                    continue
            except (AttributeError, TypeError, UnicodeEncodeError):
                pass  # the general path below names what is wrong
            else:
                return with_cookies_joined(headers)
            break
    elif not multi:
        header_map = one_string_each(single)
        if header_map is not None:
            return list(header_map.items()), header_map
    return multi_header_pairs(
        merged_items(event, multi_key, single_key, fold_case=True), single_key
    )


def one_string_each(single: Mapping[Any, Any]) -> dict[bytes, bytes] | None:
    """``{ASGI name: value}`` for a ``{name: value}`` map when every value is a latin-1
    string, names stay distinct once lower-cased and no Cookie header is empty, else ``None``."""
    names = REQUEST_NAMES
    try:
        header_map = {names[name]: value.encode("latin-1") for name, value in single.items()}
    except KeyError:  # a name not seen before
        if not learn_request_names(single):
            return None
        return one_string_each(single)
    except (AttributeError, UnicodeEncodeError):
        return None
    if len(header_map) != len(single) or header_map.get(b"cookie") == b"":
        return None
    return header_map


def one_value_each(multi: Mapping[Any, Any]) -> dict[bytes, bytes] | None:
    """``{ASGI name: value}`` for a ``{name: [value]}`` map when every name has one latin-1
    string value, names stay distinct once lower-cased and no Cookie header is empty (what
    most requests carry), else ``None``."""
    names = REQUEST_NAMES
    try:
        header_map = {names[name]: value.encode("latin-1") for name, (value,) in multi.items()}
    except KeyError:  # a name not seen before
        if not learn_request_names(multi):
            return None
        return one_value_each(multi)
    except (AttributeError, TypeError, ValueError, UnicodeEncodeError):
        return None
    if len(header_map) != len(multi) or header_map.get(b"cookie") == b"":
        return None
    return header_map


def _not_a_list(values: object) -> list[str]:
    raise TypeError(f"not a list: {values!r}")


def with_cookies_joined(
    headers: list[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]]:
    """``(headers, {name: value})`` with :func:`join_cookies` applied where it changes
    anything: only a repeated name or an empty ``cookie`` header needs a look."""
    header_map = dict(headers)
    if len(header_map) == len(headers) and header_map.get(b"cookie") != b"":
        return headers, header_map
    joined = join_cookies(headers)
    # A repeated name other than Cookie changes nothing: the map is already right.
    return (headers, header_map) if joined is headers else (joined, dict(joined))


def join_cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Several ``cookie`` headers become one, joined with ``"; "`` (RFC 6265); empty ones go."""
    cookies = [value for name, value in headers if name == b"cookie"]
    if len(cookies) < 2 and (not cookies or cookies[0]):
        return headers
    headers = [header for header in headers if header[0] != b"cookie"]
    joined = b"; ".join(cookie for cookie in cookies if cookie)
    if joined:
        headers.append((b"cookie", joined))
    return headers


def forwarded_client(headers: Mapping[bytes, bytes]) -> tuple[str, int] | None:
    """``scope["client"]`` from the LAST ``X-Forwarded-For`` entry: the one the load balancer
    appended itself. Earlier entries come from the caller and can be forged."""
    forwarded = headers.get(b"x-forwarded-for")
    if not forwarded:
        return None
    last = forwarded.decode("latin-1").rsplit(",", 1)[-1].strip()
    return (last, 0) if last else None


# Request methods in upper case ("get" -> "GET"), read with a KeyError fallback as
# REQUEST_NAMES is.
_UPPER: dict[str, str] = {}


def _upper(method: str) -> str:
    upper = method.upper()
    if len(_UPPER) < 64:  # a few methods: bounded whatever the events invent
        _UPPER[method] = upper
    return upper


def make_scope(
    event: Mapping[str, Any],
    context: Any,
    *,
    method: str,
    path: str,
    raw_path: bytes,
    root_path: str,
    query_string: bytes,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    default_scheme: str = "https",
    default_host: object = None,
    http_version: str = "1.1",
    header_map: Mapping[bytes, bytes] | None = None,
    origin: tuple[str, tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """The ASGI HTTP scope, with ``scheme`` and ``server`` read from the forwarding headers.

    ``path`` is the full decoded path including ``root_path`` (ASGI spec). ``header_map``:
    ``dict(headers)`` when the caller has built it already. ``origin``: ``(scheme, server)``
    when the caller already knows them (the headers are then not read).
    """
    if origin is None:
        if header_map is None:
            header_map = dict(headers)
        key = (
            header_map.get(b"x-forwarded-proto"),
            header_map.get(b"host"),
            header_map.get(b"x-forwarded-port"),
            default_scheme,
            default_host,
        )
        # Parsed once per combination: a function answers for a few hosts.
        try:
            origin = _ORIGINS[key]
        except KeyError:  # not seen yet
            origin = _parse_origin(*key)
            if len(_ORIGINS) < 64:
                _ORIGINS[key] = origin
        except TypeError:  # an unhashable default_host (a malformed event): not remembered
            origin = _parse_origin(*key)
    scheme, server = origin
    try:
        method = _UPPER[method]
    except KeyError:
        method = _upper(method)
    return {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": http_version,
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "root_path": root_path,
        "query_string": query_string,
        "headers": headers,
        "client": client,
        "server": server,
        "aws.event": event,
        "aws.context": context,
    }


_ORIGINS: dict[tuple[Any, ...], tuple[str, tuple[str, int]]] = {}


def _parse_origin(
    proto: bytes | None,
    host: bytes | None,
    port: bytes | None,
    default_scheme: str,
    default_host: object,
) -> tuple[str, tuple[str, int]]:
    if proto == b"https":  # what AWS front doors send: skip the general parsing
        scheme = "https"
    elif proto is None:
        scheme = default_scheme
    else:
        proto_text = proto.decode("latin-1").strip().lower()
        scheme = proto_text if proto_text in ("http", "https") else default_scheme
    host_text = (
        host.decode("latin-1") if host else (default_host if type(default_host) is str else None)
    )
    if host_text and ":" not in host_text and (port is None or port in _STANDARD_PORT_BYTES):
        # What AWS front doors send: a DNS name, and port 443 or 80 or none.
        port_number = (
            (443 if scheme == "https" else 80) if port is None else _STANDARD_PORT_BYTES[port]
        )
        return scheme, (host_text, port_number)
    return scheme, server_from_host(host_text, port.decode("latin-1") if port else None, scheme)


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``"OK"``), or ``""`` for an unknown code."""
    phrase = _PHRASES.get(status)
    if phrase is None:
        from http import HTTPStatus  # ~60 enum members: built on first use, not at import

        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        _PHRASES[status] = phrase
    return phrase


# Reason phrases already looked up (an enum lookup per response costs more than the rest of
# an ALB response's headers). Bounded: status codes are 100-599.
_PHRASES: dict[int, str] = {}


def status_description(status: int) -> str:
    """ALB's and Lattice's ``statusDescription``: ``"200 OK"`` (``"299"`` for an unknown code)."""
    return f"{status} {reason_phrase(status)}".rstrip()


# Every spelling of "set-cookie" that differs only in letter case: 2 ** 9 of them.
_COOKIE_LETTERS = [i for i, char in enumerate("set-cookie") if char.isalpha()]
#: How many Set-Cookie headers a single-value-header response can carry (one per spelling).
MAX_SINGLE_VALUE_COOKIES = 2 ** len(_COOKIE_LETTERS)


def _set_cookie_name(index: int) -> str:
    chars = list("set-cookie")
    for bit, position in enumerate(_COOKIE_LETTERS):
        if index >> bit & 1:
            chars[position] = chars[position].upper()
    return "".join(chars)


def single_value_headers(headers: ResponseHeaders) -> dict[str, str]:
    """Response headers for a source whose response takes ONE value per name (ALB without
    multi-value headers, VPC Lattice).

    Repeated headers are joined with ``", "`` (RFC 9110 list syntax), except ``Set-Cookie``,
    which cannot be joined: each cookie gets its own spelling of the name differing in letter
    case (``set-cookie``, ``Set-cookie``, ``sEt-cookie``, ...). The map keys are distinct, the
    names are equal case-insensitively, so clients receive every cookie. Up to
    :data:`MAX_SINGLE_VALUE_COOKIES` cookies; more are dropped with an error logged.
    """
    result = headers.joined(exclude="set-cookie")
    cookies = headers.groups.get("set-cookie", ())
    if len(cookies) > MAX_SINGLE_VALUE_COOKIES:
        logger.error(
            "the response sets %d cookies; a single-value-header response carries at most %d "
            "(enable multi-value headers on the ALB target group to send more)",
            len(cookies),
            MAX_SINGLE_VALUE_COOKIES,
        )
    for index, cookie in enumerate(cookies[:MAX_SINGLE_VALUE_COOKIES]):
        result[_set_cookie_name(index)] = cookie
    return result
