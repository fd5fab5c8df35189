"""Builders of realistic Lambda events for the tests (shapes as AWS sends them)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl


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
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        if binary:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = raw.decode()
    return event


def function_url_event(
    method: str = "GET", path: str = "/", query: str = "", **kwargs: Any
) -> dict[str, Any]:
    """A Function URL event; ``path`` is percent-encoded as Function URLs send it."""
    kwargs.setdefault("domain", "abcdefghij.lambda-url.us-east-1.on.aws")
    event = http_api_v2_event(method, path, query, **kwargs)
    event["requestContext"]["accountId"] = "anonymous"
    return event
