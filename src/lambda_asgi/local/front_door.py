"""What an AWS front door does around a function, for local runs.

One direction builds, from a real HTTP request, the event each source would send to Lambda
(``lambda-asgi serve`` and ``lambda-asgi invoke --source``). The other turns the function's
answer back into HTTP: a proxy response (buffered), or the prelude of a streamed response
(``{"statusCode", "headers", ...}``, 8 NUL bytes, then the body).

The shapes follow real captures (see the events corpus): HTTP API payload 2.0 decodes
``rawPath`` and moves cookies to ``cookies[]``; a Function URL keeps ``rawPath`` encoded and
the ``cookie`` header too; REST (payload 1.0) has single- and multi-value maps with DECODED
query values; an ALB target group (single-value mode) keeps the last of repeated names and
leaves query keys and values ENCODED; VPC Lattice v2 has list-valued maps. Local choices: the
``Host`` header is the local server's (so absolute URLs an app builds point back at it), and
every source gets ``X-Forwarded-Proto`` / ``X-Forwarded-Port`` of the local connection.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from ..config import AdapterConfig
from ..events.alb import ALB_RESPONSE_LIMIT
from ..events.base import LAMBDA_PAYLOAD_LIMIT, ResponseHeaders, decode_body, encode_body
from ..runtime.respond import DELIMITER

__all__ = [
    "DELIMITER",
    "SOURCE_NAMES",
    "HttpRequest",
    "HttpResponse",
    "MalformedResponseError",
    "build_event",
    "http_head",
    "proxy_to_http",
    "request_body_limit",
    "split_prelude",
]

_REGION = "us-east-1"
_ACCOUNT = "123456789012"
_API_ID = "local"
# Headers that frame one HTTP connection: never copied from a proxy response.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as a client sent it: ``path`` and ``query`` still percent-encoded."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    """``(name, value)`` pairs in order (repeats kept)."""
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    scheme: str = "https"
    port: int = 443
    host: str = "localhost"
    """Used as the ``Host`` header when the request has none."""
    protocol: str = "HTTP/1.1"

    @classmethod
    def from_target(
        cls,
        method: str,
        target: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        **options: Any,
    ) -> HttpRequest:
        """A request for ``target`` (``/items?a=1``), as ``curl`` would send it."""
        path, _, query = target.partition("?")
        if not path.startswith("/"):
            path = "/" + path
        return cls(method.upper(), path, query, tuple(headers), body, **options)

    def header_list(self) -> list[tuple[str, str]]:
        """The headers the front door passes on: the client's, with the ``Host`` header and
        the forwarding headers AWS adds (``X-Forwarded-For`` appended to, the others set)."""
        headers = [
            (name.lower(), value)
            for name, value in self.headers
            if name.lower() not in ("x-forwarded-proto", "x-forwarded-port")
        ]
        names = {name for name, _ in headers}
        if "host" not in names:
            headers.insert(0, ("host", self.host))
        forwarded = [value for name, value in headers if name == "x-forwarded-for"]
        headers = [(name, value) for name, value in headers if name != "x-forwarded-for"]
        headers.append(("x-forwarded-for", ", ".join([*forwarded, self.client_ip])))
        headers.append(("x-forwarded-port", str(self.port)))
        headers.append(("x-forwarded-proto", self.scheme))
        if "x-amzn-trace-id" not in names:
            headers.append(("x-amzn-trace-id", _trace_id()))
        return headers


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An HTTP response made from a proxy response: status, header pairs, body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponseError(ValueError):
    """The function's answer is not a proxy response the source accepts (AWS answers 502)."""


# -- requests -> events --------------------------------------------------------------------


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _request_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


def _domain(headers: list[tuple[str, str]]) -> str:
    host = next((value for name, value in headers if name == "host"), "localhost")
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and "]" not in port else host


def _body(request: HttpRequest, headers: list[tuple[str, str]]) -> tuple[str, bool]:
    """The body as the event carries it: text for a textual, unencoded, UTF-8 body (the same
    rule as for responses), else base64."""
    pairs = [
        (name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in headers
    ]
    return encode_body(request.body, ResponseHeaders(pairs, frozenset()), AdapterConfig())


def _joined(headers: Iterable[tuple[str, str]], separator: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        result[name] = f"{result[name]}{separator}{value}" if name in result else value
    return result


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


def _decoded_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _v2_event(request: HttpRequest, *, function_url: bool, now: float) -> dict[str, Any]:
    headers = request.header_list()
    cookies = [
        part.strip()
        for name, value in headers
        if name == "cookie"
        for part in value.split(";")
        if part.strip()
    ]
    if not function_url:
        # HTTP API moves cookies to cookies[]; a Function URL keeps the header as well.
        headers = [(name, value) for name, value in headers if name != "cookie"]
    domain = _domain(headers)
    if function_url:
        # The adapter tells a Function URL by its domain; the Host header stays the local one.
        domain = f"{_API_ID}.lambda-url.{_REGION}.on.aws"
    decoded_path = unquote(request.path)
    body, is_base64 = _body(request, headers)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path if function_url else decoded_path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = _joined(headers, ",")
    query = _joined(_decoded_query(request.query), ",")
    if query:
        event["queryStringParameters"] = query
    user_agent = next((value for name, value in headers if name == "user-agent"), "")
    event["requestContext"] = {
        "accountId": "anonymous" if function_url else _ACCOUNT,
        "apiId": _API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": decoded_path,
            "protocol": request.protocol,
            "sourceIp": request.client_ip,
            "userAgent": user_agent,
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if body:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


def http_api_event(request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """API Gateway HTTP API, payload format 2.0 (``$default`` stage and route)."""
    return _v2_event(request, function_url=False, now=time.time() if now is None else now)


def function_url_event(request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """A Lambda Function URL (payload 2.0; ``rawPath`` as sent)."""
    return _v2_event(request, function_url=True, now=time.time() if now is None else now)


def rest_event(request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """API Gateway REST API proxy integration (payload 1.0), stage ``local``.

    The local URL has no stage in it, as on a custom domain: ``requestContext.path`` equals
    ``path``, so the app's ``root_path`` is empty and its URLs point back at the local server.
    """
    now = time.time() if now is None else now
    # REST drops Content-Length (it may re-encode the body).
    headers = [(n, v) for n, v in request.header_list() if n != "content-length"]
    multi_headers = _grouped(headers)
    query = _decoded_query(request.query)
    multi_query = _grouped(query)
    body, is_base64 = _body(request, headers)
    domain = _domain(headers)
    user_agent = multi_headers.get("user-agent", [None])[-1]
    proxy = unquote(request.path).lstrip("/")
    return {
        "resource": "/{proxy+}" if proxy else "/",
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": _ACCOUNT,
            "apiId": _API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "extendedRequestId": secrets.token_urlsafe(12),
            "httpMethod": request.method,
            "identity": {"sourceIp": request.client_ip, "userAgent": user_agent},
            "path": request.path,
            "protocol": request.protocol,
            "requestId": str(uuid.uuid4()),
            "requestTime": _request_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": "/{proxy+}" if proxy else "/",
            "stage": "local",
        },
        "body": body or None,
        "isBase64Encoded": is_base64,
    }


def alb_event(request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """An Application Load Balancer target group, single-value headers mode (the default):
    the last value of a repeated header or query key wins; query keys and values stay
    percent-encoded, as the client sent them."""
    headers = request.header_list()
    query: dict[str, str] = {}
    for item in request.query.split("&") if request.query else ():
        key, _, value = item.partition("=")
        query[key] = value
    body, is_base64 = _body(request, headers)
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:{_REGION}:{_ACCOUNT}:"
                "targetgroup/local/0123456789abcdef"
            }
        },
        "httpMethod": request.method,
        "path": request.path,
        "queryStringParameters": query,
        "headers": dict(headers),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def lattice_event(request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """A VPC Lattice target group, event structure version 2 (list-valued maps)."""
    now = time.time() if now is None else now
    headers = request.header_list()
    body, is_base64 = _body(request, headers)
    arn = f"arn:aws:vpc-lattice:{_REGION}:{_ACCOUNT}"
    event: dict[str, Any] = {
        "version": "2.0",
        "path": request.path,
        "method": request.method,
        "headers": _grouped(headers),
        "queryStringParameters": _grouped(_decoded_query(request.query)),
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "serviceNetworkArn": f"{arn}:servicenetwork/sn-local",
            "serviceArn": f"{arn}:service/svc-local",
            "targetGroupArn": f"{arn}:targetgroup/tg-local",
            "identity": {"sourceVpcArn": f"arn:aws:ec2:{_REGION}:{_ACCOUNT}:vpc/vpc-local"},
            "region": _REGION,
            "timeEpoch": str(int(now * 1_000_000)),
        },
    }
    return event


_BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "http-api": http_api_event,
    "rest": rest_event,
    "alb": alb_event,
    "function-url": function_url_event,
    "lattice": lattice_event,
}

#: The front doors ``serve`` and ``invoke --source`` can play.
SOURCE_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def _check_source(source: str) -> None:
    if source not in _BUILDERS:
        raise ValueError(f"unknown source {source!r}: choose one of {', '.join(SOURCE_NAMES)}")


def build_event(source: str, request: HttpRequest, *, now: float | None = None) -> dict[str, Any]:
    """The event ``source`` (one of :data:`SOURCE_NAMES`) sends to Lambda for ``request``."""
    _check_source(source)
    return _BUILDERS[source](request, now=now)


def request_body_limit(source: str) -> int:
    """The largest request body ``source`` passes to a function (ALB: 1 MB; the others are
    bounded by Lambda's 6 MB invocation payload, checked on the whole event)."""
    _check_source(source)
    return ALB_RESPONSE_LIMIT if source == "alb" else LAMBDA_PAYLOAD_LIMIT


# -- proxy responses -> HTTP ---------------------------------------------------------------


def _status(proxy: Mapping[str, Any]) -> int:
    status = proxy.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponseError(
            f"statusCode must be an HTTP status (100-599), got {proxy.get('statusCode')!r}"
        )
    return status


def _value(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    raise MalformedResponseError(f"header {name!r} has a value of type {type(value).__name__}")


def _map(proxy: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = proxy.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedResponseError(f"{key!r} must be an object, got {type(value).__name__}")
    return value


def _response_headers(source: str, proxy: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header pairs ``source`` reads from a proxy response (keys it ignores stay ignored)."""
    pairs: list[tuple[str, str]] = []
    if source == "rest":
        # API Gateway merges the maps; a name in multiValueHeaders takes only those values.
        multi = _map(proxy, "multiValueHeaders")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise MalformedResponseError(f"multiValueHeaders[{name!r}] must be a list")
            pairs += [(name, _value(name, value)) for value in values]
        seen = {name.lower() for name in multi}
        pairs += [
            (name, _value(name, value))
            for name, value in _map(proxy, "headers").items()
            if name.lower() not in seen
        ]
    else:
        pairs += [(name, _value(name, value)) for name, value in _map(proxy, "headers").items()]
    if source in ("http-api", "function-url"):
        cookies = proxy.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponseError("'cookies' must be a list of strings")
        pairs += [("set-cookie", _value("set-cookie", cookie)) for cookie in cookies]
    return [(name.lower(), value) for name, value in pairs if name.lower() not in _HOP_BY_HOP]


def _inferred(source: str, result: object) -> Mapping[str, Any]:
    """The proxy response for ``result``: payload 2.0 sources infer one from any JSON value
    without ``statusCode`` (200, ``application/json``); the others require the proxy shape."""
    if isinstance(result, Mapping) and "statusCode" in result:
        return result
    if source in ("http-api", "function-url"):
        body = result if isinstance(result, str) else json.dumps(result)
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}
    raise MalformedResponseError(
        f"the function returned {type(result).__name__} without a statusCode; the {source} "
        "source needs a proxy response {statusCode, headers, body, isBase64Encoded}"
    )


def http_head(source: str, proxy: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]]]:
    """Status and header pairs of a proxy response or of a stream's prelude."""
    _check_source(source)
    return _status(proxy), _response_headers(source, proxy)


def proxy_to_http(source: str, result: object) -> HttpResponse:
    """The HTTP response ``source`` sends for the function's buffered ``result``."""
    _check_source(source)
    proxy = _inferred(source, result)
    status, headers = http_head(source, proxy)
    try:
        body = decode_body(proxy)
    except ValueError as exc:
        raise MalformedResponseError(str(exc)) from None
    return HttpResponse(status, headers, body)


def split_prelude(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """``(prelude, body so far)`` of a streamed HTTP response, or None while the 8-NUL
    delimiter has not arrived yet."""
    end = data.find(DELIMITER)
    if end < 0:
        return None
    try:
        prelude = json.loads(data[:end])
    except ValueError as exc:
        raise MalformedResponseError(f"the stream's prelude is not JSON: {exc}") from None
    if not isinstance(prelude, dict):
        raise MalformedResponseError("the stream's prelude is not a JSON object")
    return prelude, data[end + len(DELIMITER) :]
