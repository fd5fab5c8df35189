"""Application Load Balancer (Lambda target group) events, single- and multi-value modes.

ALB passes the path AND the query values exactly as the client sent them (still
percent-encoded). With the target group attribute ``lambda.multi_value_headers.enabled`` the
event carries ``multiValueHeaders`` / ``multiValueQueryStringParameters`` and the response must
use ``multiValueHeaders``; otherwise both sides use single-value ``headers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import AdapterConfig
from .base import (
    EventSource,
    ResponseHeaders,
    decode_body,
    encode_body,
    event_headers,
    forwarded_client,
    is_mapping,
    make_scope,
    merged_items,
    require_str,
    requote,
    single_value_headers,
    split_encoded_path,
    split_root_path,
    status_description,
)

__all__ = ["ALB_RESPONSE_LIMIT", "SOURCE", "AlbSource", "is_multi_value"]

#: ALB rejects (502) a Lambda response over 1 MB.
ALB_RESPONSE_LIMIT = 1024 * 1024


def is_multi_value(event: Mapping[str, Any]) -> bool:
    """Whether the target group has multi-value headers on (the event then has the keys)."""
    return "multiValueHeaders" in event or "multiValueQueryStringParameters" in event


class AlbSource(EventSource):
    """ALB: ``requestContext.elb``; answers in the header mode the event came in."""

    name = "alb"
    title = "Application Load Balancer"
    marker = "requestContext"
    response_limit = ALB_RESPONSE_LIMIT

    def matches(self, event: Mapping[str, Any]) -> bool:
        context = event.get("requestContext")
        return (type(context) is dict or is_mapping(context)) and "elb" in context

    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        method = require_str(event.get("httpMethod"), "httpMethod")
        path, raw_path = split_encoded_path(require_str(event.get("path") or "/", "path"))
        headers, header_map = event_headers(event, "multiValueHeaders", "headers")
        # Query keys and values are still encoded: join them as they are (no double encoding).
        query = "&".join(
            f"{requote(key)}={requote(value)}"
            for key, value in merged_items(
                event, "multiValueQueryStringParameters", "queryStringParameters", fold_case=False
            )
        )
        scope = make_scope(
            event,
            context,
            method=method,
            path=path,
            raw_path=raw_path,
            root_path=split_root_path(path, (config.base_path,)) if config.base_path else "",
            query_string=query.encode("ascii"),
            headers=headers,
            client=forwarded_client(header_map),
            header_map=header_map,
            # Health checks come without X-Forwarded-Proto, over plain HTTP.
            default_scheme="http",
        )
        return scope, decode_body(event)

    def to_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        event: Mapping[str, Any],
        config: AdapterConfig,
    ) -> dict[str, Any]:
        text, is_base64 = encode_body(body, headers, config)
        response: dict[str, Any] = {
            "statusCode": status,
            "statusDescription": status_description(status),
            "isBase64Encoded": is_base64,
            "body": text,
        }
        if is_multi_value(event):
            unique = headers.unique
            response["multiValueHeaders"] = (
                {name: [value] for name, value in unique.items()}
                if unique is not None
                else dict(headers.groups)
            )
        else:
            response["headers"] = single_value_headers(headers)
        return response


SOURCE = AlbSource()
