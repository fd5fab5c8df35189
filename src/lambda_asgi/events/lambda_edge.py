"""Lambda@Edge viewer-request and origin-request events (CloudFront ``Records[0].cf``).

The app's response becomes a response GENERATED at the edge: CloudFront answers the viewer
with it and never contacts the origin. Response triggers (origin-response, viewer-response)
carry CloudFront's response rather than a request to serve and are not supported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..config import AdapterConfig
from ..errors import InvalidEventError
from .base import (
    PATH_NEEDS_QUOTING,
    REQUEST_NAMES,
    EventSource,
    Memo,
    ResponseHeaders,
    body_bytes,
    encode_body,
    get_map,
    is_mapping,
    learn_request_names,
    make_scope,
    multi_header_pairs,
    reason_phrase,
    require_str,
    requote,
    split_encoded_path,
    split_root_path,
    with_cookies_joined,
)

__all__ = [
    "DROPPED_RESPONSE_HEADERS",
    "ORIGIN_RESPONSE_LIMIT",
    "SOURCE",
    "VIEWER_RESPONSE_LIMIT",
    "LambdaEdgeSource",
    "edge_request",
]

#: Largest generated response (headers and body) of an origin-request trigger.
ORIGIN_RESPONSE_LIMIT = 1024 * 1024
#: Largest generated response (headers and body) of a viewer-request trigger.
VIEWER_RESPONSE_LIMIT = 40 * 1024

#: Response headers CloudFront refuses in a generated response (it answers 502 instead):
#: its disallowed headers and the read-only ones it computes itself. They are left out.
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
_DROPPED_PREFIXES = ("x-amz-cf-", "x-amzn-", "x-edge-")
#: Status code -> (``status``, ``statusDescription``) of a CloudFront response.
_STATUS_LINES = Memo(lambda status: (str(status), reason_phrase(status)))
#: Response header name -> 0 if CloudFront refuses it in a generated response, else what its
#: name adds to the size of the JSON response (the name twice and the punctuation, at most).
_HEADER_SIZES = Memo(
    lambda name: (
        0
        if name in DROPPED_RESPONSE_HEADERS or name.startswith(_DROPPED_PREFIXES)
        else 2 * len(name) + 32
    )
)

logger = logging.getLogger("lambda_asgi")
_path_needs_quoting = PATH_NEEDS_QUOTING.search


def edge_request(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``Records[0].cf`` of a request trigger, or ``None`` (cheap; never raises)."""
    try:
        cf = event["Records"][0]["cf"]
        if "response" in cf or not (type(request := cf["request"]) is dict or is_mapping(request)):
            return None
    except (KeyError, IndexError, TypeError):
        return None
    return cf if type(cf) is dict or is_mapping(cf) else None


class LambdaEdgeSource(EventSource):
    """Lambda@Edge: CloudFront's request in, a generated CloudFront response out."""

    name = "lambda-at-edge"
    title = "Lambda@Edge (viewer-request / origin-request)"
    marker = "Records"
    response_limit = ORIGIN_RESPONSE_LIMIT

    def matches(self, event: Mapping[str, Any]) -> bool:
        return edge_request(event) is not None

    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        try:
            cf = event["Records"][0]["cf"]
            request = cf["request"]
        except (KeyError, IndexError, TypeError):
            request = None
        if type(request) is not dict or "response" in cf:
            cf = edge_request(event)
            if cf is None:
                raise InvalidEventError("event field 'Records[0].cf.request' is missing")
            request = get_map(cf, "request")
        method = request.get("method")
        if type(method) is not str or not method:
            method = require_str(method, "Records[0].cf.request.method")
        uri = request.get("uri") or "/"
        if type(uri) is str and uri[0] == "/" and _path_needs_quoting(uri) is None:
            path, raw_path = uri, uri.encode("ascii")  # nothing to decode or encode
        else:
            path, raw_path = split_encoded_path(require_str(uri, "Records[0].cf.request.uri"))
        headers, header_map = _request_headers(request)
        # CloudFront tells the viewer's protocol only in CloudFront-Forwarded-Proto (when the
        # distribution forwards it): the scheme, and the default port of `server`.
        scheme = "https"
        proto = header_map.get(b"cloudfront-forwarded-proto")
        if proto is not None and proto != b"https":
            proto_text = proto.decode("latin-1").strip().lower()
            if proto_text == "http":
                scheme = proto_text
        query = request.get("querystring") or ""
        client_ip = request.get("clientIp")
        scope = make_scope(
            event,
            context,
            method=method,
            path=path,
            raw_path=raw_path,
            root_path=split_root_path(path, (config.base_path,)) if config.base_path else "",
            query_string=requote(query).encode("ascii") if type(query) is str else b"",
            headers=headers,
            client=(client_ip, 0) if type(client_ip) is str and client_ip else None,
            default_scheme=scheme,
            header_map=header_map,
            # Only read without a Host header (CloudFront always sends one).
            default_host=None
            if b"host" in header_map
            else get_map(cf, "config").get("distributionDomainName"),
        )
        return scope, _request_body(request)

    def to_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        event: Mapping[str, Any],
        config: AdapterConfig,
    ) -> dict[str, Any]:
        text, is_base64 = encode_body(body, headers, config)
        unique = headers.unique
        sizes = _HEADER_SIZES
        # JSON escaping at most multiplies a character by 12, so most responses are judged
        # by their length alone, without serialising them.
        estimate = len(text)
        cloudfront_headers: dict[str, list[dict[str, str]]] = {}
        if unique is not None:
            for name, value in unique.items():
                if size := sizes[name]:
                    cloudfront_headers[name] = [{"key": name, "value": value}]
                    estimate += size + len(value)
        else:
            for name, values in headers.groups.items():
                if size := sizes[name]:
                    cloudfront_headers[name] = [{"key": name, "value": value} for value in values]
                    estimate += sum(size + len(value) for value in values)
        status_text, description = _STATUS_LINES[status]
        response: dict[str, Any] = {
            "status": status_text,
            "statusDescription": description,
            "headers": cloudfront_headers,
            "body": text,
            "bodyEncoding": "base64" if is_base64 else "text",
        }
        if estimate * 12 + 256 < VIEWER_RESPONSE_LIMIT:
            return response  # within the smaller limit: which trigger it is does not matter
        try:
            event_type = event["Records"][0]["cf"]["config"]["eventType"]
        except (KeyError, IndexError, TypeError):
            event_type = ""
        if type(event_type) is not str:
            event_type = ""
        limit = VIEWER_RESPONSE_LIMIT if event_type.startswith("viewer") else ORIGIN_RESPONSE_LIMIT
        if estimate * 12 + 256 >= limit and len(_json_dumps(response)) > limit:
            size = "40 KB" if limit == VIEWER_RESPONSE_LIMIT else "1 MB"
            message = (
                f"The response is over {size}, the limit of a response generated by a "
                f"Lambda@Edge {event_type or 'request'} trigger. Serve large bodies from the "
                "origin (an origin-request trigger allows 1 MB, a viewer-request one 40 KB)."
            )
            logger.error("%s", message)
            return self.to_response(
                502,
                ResponseHeaders.json(),
                _json_dumps({"message": message}).encode(),
                event,
                config,
            )
        return response


def _request_headers(
    request: Mapping[str, Any],
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]]:
    """``(headers, {name: value})`` from ``{name: [{key, value}, ...]}``: every value of every
    header kept (several Cookie headers joined)."""
    headers = request.get("headers")
    if type(headers) is not dict:
        headers = get_map(request, "headers")
    where = "Records[0].cf.request.headers"
    names = REQUEST_NAMES
    try:
        # Most requests: one entry per name.
        header_map = {
            names[name]: entry["value"].encode("latin-1") for name, (entry,) in headers.items()
        }
    except KeyError:  # a name not seen before, or an entry without a value
        if not all(name in names for name in headers) and learn_request_names(headers):
            return _request_headers(request)  # every name is known now: no second retry
    except (AttributeError, TypeError, ValueError, UnicodeEncodeError):
        pass
    else:
        if len(header_map) == len(headers) and header_map.get(b"cookie") != b"":
            return list(header_map.items()), header_map
    try:
        return with_cookies_joined(
            [
                (names[name], entry["value"].encode("latin-1"))
                for name, entries in headers.items()
                for entry in entries
            ]
        )
    except (AttributeError, KeyError, TypeError, UnicodeEncodeError):
        pass  # a malformed entry, or a value that is no latin-1 string: checked below
    for name, entries in headers.items():
        if not isinstance(entries, list) or not all(
            is_mapping(e) and "value" in e for e in entries
        ):
            raise InvalidEventError(
                f"event field '{where}[{name!r}]' must be a list of "
                '{"key": ..., "value": ...} objects'
            )
    items = [(name, entry["value"]) for name, entries in headers.items() for entry in entries]
    return multi_header_pairs(items, where)


def _request_body(request: Mapping[str, Any]) -> bytes:
    body = request.get("body")
    if body is None:
        return b""
    if not is_mapping(body):
        raise InvalidEventError("event field 'Records[0].cf.request.body' must be an object")
    if body.get("inputTruncated"):
        raise InvalidEventError(
            "CloudFront truncated the request body (Records[0].cf.request.body.inputTruncated "
            "is true): Lambda@Edge exposes at most 40 KB (viewer request) or 1 MB (origin "
            "request). Send large bodies to the origin instead."
        )
    return body_bytes(
        body.get("data"), body.get("encoding") == "base64", "Records[0].cf.request.body.data"
    )


SOURCE = LambdaEdgeSource()


def _json_dumps(value: object) -> str:
    import json  # only error and oversized responses need it: kept off the import path

    return json.dumps(value)
