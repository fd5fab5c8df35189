"""Builders of realistic Lambda events for the tests (shapes as AWS sends them)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl


def put_body(event: dict[str, Any], body: bytes | str | None, binary: bool) -> None:
    """Set ``body`` / ``isBase64Encoded`` as API Gateway and ALB send them (no body: unset)."""
    if body is None:
        return
    raw = body.encode() if isinstance(body, str) else body
    event["body"] = base64.b64encode(raw).decode() if binary else raw.decode()
    event["isBase64Encoded"] = binary


def http_api_v2_event(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    stage: str = "$default",
    domain: str = "abc123.execute-api.us-east-1.amazonaws.com",
    binary: bool = False,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event; ``path`` is the decoded path as HTTP API sends it."""
    all_headers = {
        "accept": "*/*",
        "host": domain,
        "user-agent": "test-client/1.0",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "test-client/1.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "25/Nov/2026:16:00:00 +0000",
            "timeEpoch": 1795622400000,
        },
        "isBase64Encoded": False,
    }
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if cookies:
        event["cookies"] = cookies
    put_body(event, body, binary)
    return event


def function_url_event(
    method: str = "GET", path: str = "/", query: str = "", **kwargs: Any
) -> dict[str, Any]:
    """A Function URL event; ``path`` is percent-encoded as Function URLs send it."""
    kwargs.setdefault("domain", "abcdefghij.lambda-url.us-east-1.on.aws")
    event = http_api_v2_event(method, path, query, **kwargs)
    event["requestContext"]["accountId"] = "anonymous"
    return event


def grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``{name: [values...]}`` from ``(name, value)`` pairs, in order (multi-value maps)."""
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


def rest_event(
    method: str = "GET",
    path: str = "/",
    query: list[tuple[str, str]] | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    stage: str = "prod",
    domain: str = "abc123.execute-api.us-east-1.amazonaws.com",
    base_mapping: str = "",
    version: str | None = None,
    source_ip: str = "203.0.113.7",
) -> dict[str, Any]:
    """A REST API proxy event (``version="1.0"``: HTTP API payload 1.0) as AWS sends it.

    ``path`` is percent-encoded as the client sent it; ``query`` holds DECODED pairs (API
    Gateway decodes them). ``path`` is the route the request matched (``pathParameters``
    holds it as ``proxy``); ``requestContext.path`` is the client's path: the stage in front
    on an execute-api host (REST), nothing for HTTP API (whose ``path`` already holds a named
    stage: pass ``stage="$default"`` or a path starting with it). On a custom domain REST
    keeps the ``base_mapping`` in front of both ``path`` and ``requestContext.path``.
    """
    pairs = [
        ("Host", domain),
        ("User-Agent", "test-client/1.0"),
        ("X-Forwarded-For", source_ip),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
        *(headers or []),
    ]
    multi_headers = grouped(pairs)
    multi_query = grouped(query or [])
    route = path
    if version == "1.0":
        prefix = ""
    elif ".execute-api." in domain:
        prefix = f"/{stage}"
    else:
        prefix, path = "", base_mapping + path
    event: dict[str, Any] = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": (
            {key: values[-1] for key, values in multi_query.items()} if multi_query else None
        ),
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": route.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "httpMethod": method,
            "identity": {"sourceIp": source_ip, "userAgent": "test-client/1.0"},
            "path": prefix + path,
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": "/{proxy+}",
            "stage": stage,
        },
        "body": None,
        "isBase64Encoded": False,
    }
    if version is not None:
        event["version"] = version
    put_body(event, body, binary)
    return event


def alb_event(
    method: str = "GET",
    path: str = "/",
    query: list[tuple[str, str]] | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    multi_value: bool = False,
    forwarded_for: str = "203.0.113.7",
) -> dict[str, Any]:
    """An ALB target-group event; ``path`` and ``query`` are still encoded, as ALB sends them.

    ``multi_value``: the target group has ``lambda.multi_value_headers.enabled``.
    """
    pairs = [
        ("accept", "*/*"),
        ("host", "my-alb-123.us-east-1.elb.amazonaws.com"),
        ("user-agent", "test-client/1.0"),
        ("x-forwarded-for", forwarded_for),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
        *(headers or []),
    ]
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/lambda-tg/abcdef0123456789"
            }
        },
        "httpMethod": method,
        "path": path,
        "body": "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = grouped(pairs)
        event["multiValueQueryStringParameters"] = grouped(query or [])
    else:
        # Single-value mode keeps the LAST value of a repeated name.
        event["headers"] = dict(pairs)
        event["queryStringParameters"] = dict(query or [])
    put_body(event, body, binary)
    return event


def edge_event(
    method: str = "GET",
    uri: str = "/",
    querystring: str = "",
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    event_type: str = "origin-request",
    client_ip: str = "203.0.113.178",
) -> dict[str, Any]:
    """A Lambda@Edge request-trigger event (``uri`` and ``querystring`` encoded)."""
    pairs = [
        ("Host", "d111111abcdef8.cloudfront.net"),
        ("User-Agent", "test-client/1.0"),
        *(headers or []),
    ]
    cf_headers: dict[str, list[dict[str, str]]] = {}
    for name, value in pairs:
        cf_headers.setdefault(name.lower(), []).append({"key": name, "value": value})
    request: dict[str, Any] = {
        "clientIp": client_ip,
        "headers": cf_headers,
        "method": method,
        "querystring": querystring,
        "uri": uri,
    }
    if body is not None:
        request["body"] = {
            "inputTruncated": False,
            "action": "read-only",
            "encoding": "base64",
            "data": base64.b64encode(body).decode(),
        }
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "d111111abcdef8.cloudfront.net",
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": event_type,
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                    },
                    "request": request,
                }
            }
        ]
    }


def lattice_event(
    method: str = "GET",
    path: str = "/",
    query: list[tuple[str, str]] | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    version: int = 2,
) -> dict[str, Any]:
    """A VPC Lattice event, structure v1 (snake_case, comma-joined repeats) or v2 (lists)."""
    pairs = [
        ("host", "svc-0123.7d67968.vpc-lattice-svcs.us-east-1.on.aws"),
        ("user-agent", "test-client/1.0"),
        ("x-forwarded-for", "10.0.0.7"),
        *(headers or []),
    ]
    headers_grouped = grouped(pairs)
    query_grouped = grouped(query or [])
    encoded = base64.b64encode(body).decode() if body is not None else ""
    if version == 1:
        return {
            "raw_path": path,
            "method": method,
            "headers": {name: ",".join(values) for name, values in headers_grouped.items()},
            "query_string_parameters": {key: values[-1] for key, values in query_grouped.items()},
            "body": encoded,
            "is_base64_encoded": body is not None,
        }
    return {
        "version": "2.0",
        "path": path,
        "method": method,
        "headers": headers_grouped,
        "queryStringParameters": query_grouped,
        "body": encoded,
        "isBase64Encoded": body is not None,
        "requestContext": {
            "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0b",
            "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0a40",
            "targetGroupArn": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-6d0e",
            "identity": {
                "sourceVpcArn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0b82",
                "type": "AWS_IAM",
                "principal": "arn:aws:iam::123456789012:role/caller",
            },
            "region": "us-east-1",
            "timeEpoch": "1724875399456789",
        },
    }


#: The first bytes of a PNG image: not UTF-8, so any source must send them base64-encoded.
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"


def fixed_response_app(
    status: int = 200, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
) -> Any:
    """A raw ASGI app answering every HTTP request with this status, headers and body."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": status, "headers": headers or []})
        await send({"type": "http.response.body", "body": body})

    return app
