"""Amazon VPC Lattice (Lambda target group) events, event structure versions 1 and 2.

Version 1 is snake_case (``raw_path``, ``query_string_parameters``, ``is_base64_encoded``) with
repeated header values comma-joined; version 2 is camelCase with ``requestContext`` (service
network, target group and the caller's ``identity``) and header / query values as lists. Both
send the path percent-encoded, possibly with the query string still attached. The response is
the same for both: ``statusCode``, ``statusDescription``, single-value ``headers``, ``body``,
``isBase64Encoded``.

The caller's identity (v2 ``requestContext.identity``: principal, source VPC, ...) is read by
apps from ``scope["aws.event"]["requestContext"]["identity"]``.
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
    encode_query,
    forwarded_client,
    get_map,
    is_mapping,
    make_scope,
    multi_header_pairs,
    require_str,
    requote,
    single_value_headers,
    split_encoded_path,
    split_root_path,
    status_description,
    value_list,
)

__all__ = ["SOURCE_V1", "SOURCE_V2", "LatticeV1Source", "LatticeV2Source"]


def _is_v2_context(context: object) -> bool:
    return is_mapping(context) and ("serviceNetworkArn" in context or "targetGroupArn" in context)


class LatticeV1Source(EventSource):
    """VPC Lattice event structure version 1 (``raw_path``, snake_case keys)."""

    name = "vpc-lattice-v1"
    title = "VPC Lattice (event structure v1)"
    marker = "method"
    path_key = "raw_path"
    base64_key = "is_base64_encoded"
    query_keys: tuple[str, ...] = ("query_string_parameters",)

    def matches(self, event: Mapping[str, Any]) -> bool:
        return "raw_path" in event and "method" in event

    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        method = require_str(event.get("method"), "method")
        target = require_str(event.get(self.path_key) or "/", self.path_key)
        raw, _, attached_query = target.partition("?")
        path, raw_path = split_encoded_path(raw)
        items = [
            (str(name), value)
            for name, values in get_map(event, "headers").items()
            for value in value_list(values, f"headers[{name!r}]")
        ]
        headers, header_map = multi_header_pairs(items, "headers")
        if attached_query:
            # The client's own query string, still encoded: the exact bytes it sent.
            query = requote(attached_query).encode("ascii")
        else:
            query = encode_query(
                (str(name), value)
                for key in self.query_keys
                for name, values in get_map(event, key).items()
                for value in value_list(values, f"{key}[{name!r}]")
            )
        scope = make_scope(
            event,
            context,
            method=method,
            path=path,
            raw_path=raw_path,
            root_path=split_root_path(path, (config.base_path,)) if config.base_path else "",
            query_string=query,
            headers=headers,
            client=forwarded_client(header_map),
            header_map=header_map,
        )
        return scope, decode_body(event, self.base64_key)

    def to_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        event: Mapping[str, Any],
        config: AdapterConfig,
    ) -> dict[str, Any]:
        text, is_base64 = encode_body(body, headers, config)
        return {
            "statusCode": status,
            "statusDescription": status_description(status),
            "headers": single_value_headers(headers),
            "body": text,
            "isBase64Encoded": is_base64,
        }


class LatticeV2Source(LatticeV1Source):
    """VPC Lattice event structure version 2 (``path``, camelCase, ``requestContext``)."""

    name = "vpc-lattice-v2"
    title = "VPC Lattice (event structure v2)"
    path_key = "path"
    base64_key = "isBase64Encoded"
    # Some published samples spell the v2 query map in v1's snake_case; read both.
    query_keys = ("queryStringParameters", "query_string_parameters")

    def matches(self, event: Mapping[str, Any]) -> bool:
        return "method" in event and "path" in event and _is_v2_context(event.get("requestContext"))


SOURCE_V1 = LatticeV1Source()
SOURCE_V2 = LatticeV2Source()
