"""API Gateway REST API (proxy integration) events, and HTTP API events of payload format 1.0.

Both share one shape: ``httpMethod``, ``path`` (percent-ENCODED, as the client sent it), the
single-value maps ``headers`` / ``queryStringParameters`` (which keep only the last of repeated
names) and their ``multiValue*`` twins (which keep every value; query values arrive DECODED).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import AdapterConfig
from .base import (
    PATH_NEEDS_QUOTING,
    EventSource,
    ResponseHeaders,
    decode_body,
    encode_body,
    encode_query,
    event_headers,
    get_map,
    is_mapping,
    make_scope,
    merged_items,
    quote_path,
    require_str,
    requote,
    split_encoded_path,
    split_root_path,
    unquote,
)
from .http_api_v2 import HTTP_VERSIONS, http_version

__all__ = ["SOURCE", "RestApiSource", "mapping_in_path", "public_prefix"]

_path_needs_quoting = PATH_NEEDS_QUOTING.search


class RestApiSource(EventSource):
    """REST API v1 and HTTP API payload 1.0: ``httpMethod`` + ``path`` at the top level."""

    name = "apigw-rest-v1"
    title = "API Gateway REST API / HTTP API (payload format 1.0)"
    marker = "httpMethod"

    def matches(self, event: Mapping[str, Any]) -> bool:
        if "httpMethod" not in event or "path" not in event:
            return False
        context = event.get("requestContext")
        # No requestContext: minimal events from test consoles and docs. ALB events carry
        # requestContext.elb; WebSocket events (some also have httpMethod) carry eventType.
        return context is None or (
            (type(context) is dict or is_mapping(context))
            and "elb" not in context
            and "eventType" not in context
        )

    def to_scope(
        self, event: Mapping[str, Any], context: Any, config: AdapterConfig
    ) -> tuple[dict[str, Any], bytes]:
        # The `type(...) is` checks are fast paths for what AWS sends; the helpers validate
        # everything else and name the field that is wrong.
        method = event.get("httpMethod")
        if type(method) is not str or not method:
            method = require_str(method, "httpMethod")
        event_path = event.get("path") or "/"
        if type(event_path) is str and event_path[0] == "/" and "%" not in event_path:
            path = event_path  # nothing to decode; raw_path is worked out below
        else:
            path, raw_tail = split_encoded_path(require_str(event_path, "path"))
            event_path = None
        request_context = event.get("requestContext")
        if type(request_context) is not dict:
            request_context = get_map(event, "requestContext")
        headers, header_map = event_headers(event, "multiValueHeaders", "headers")
        domain = request_context.get("domainName")
        is_http_api = event.get("version") == "1.0"
        context_path = request_context.get("path")
        if (
            type(context_path) is str
            and path[-1] != "/"
            and context_path.endswith(path)
            and "%" not in context_path
        ):
            # What AWS sends: requestContext.path is the stage or base path, then the path.
            prefix = context_path[: len(context_path) - len(path)]
            if prefix and (prefix[0] != "/" or prefix[-1] == "/"):
                prefix = self.prefix(path, request_context, domain, header_map, is_http_api)
        else:
            prefix = self.prefix(path, request_context, domain, header_map, is_http_api)
        full_path = prefix + path
        if event_path is not None and _path_needs_quoting(full_path) is None:
            raw_path = full_path.encode("ascii")  # nothing to encode either
        else:
            if event_path is not None:
                raw_tail = requote(event_path).encode("ascii")
            raw_path = quote_path(prefix) + raw_tail if prefix else raw_tail
        stage = request_context.get("stage")
        # HTTP API keeps a named stage IN the path (like payload 2.0); REST strips it.
        stage_in_path = (
            f"/{stage}" if is_http_api and isinstance(stage, str) and stage != "$default" else ""
        )
        # Nothing in front of `path`: on a custom domain, REST leaves the mapping IN it.
        mapping = "" if prefix or is_http_api else mapping_in_path(event)
        if stage_in_path or config.base_path or mapping:
            root_path = split_root_path(
                full_path, (prefix, mapping, stage_in_path, config.base_path)
            )
        else:
            root_path = prefix  # full_path starts with it, on a segment boundary
        if event.get("multiValueQueryStringParameters") or event.get("queryStringParameters"):
            query = encode_query(
                merged_items(
                    event,
                    "multiValueQueryStringParameters",
                    "queryStringParameters",
                    fold_case=False,
                )
            )
        else:
            query = b""
        identity = request_context.get("identity")
        if type(identity) is not dict:
            identity = get_map(request_context, "identity")
        source_ip = identity.get("sourceIp")
        protocol = request_context.get("protocol")
        scope = make_scope(
            event,
            context,
            method=method,
            path=full_path,
            raw_path=raw_path,
            root_path=root_path,
            query_string=query,
            headers=headers,
            client=(source_ip, 0) if type(source_ip) is str and source_ip else None,
            header_map=header_map,
            default_host=domain,
            http_version=(type(protocol) is str and HTTP_VERSIONS.get(protocol))
            or http_version(protocol),
        )
        body = event.get("body")
        if not body:
            return scope, b""
        if type(body) is str and not event.get("isBase64Encoded"):
            try:
                return scope, body.encode()
            except UnicodeEncodeError:
                pass  # a lone surrogate: decode_body keeps it (surrogateescape)
        return scope, decode_body(event)

    @staticmethod
    def prefix(
        path: str,
        request_context: Mapping[str, Any],
        domain: object,
        header_map: Mapping[bytes, bytes],
        is_http_api: bool,
    ) -> str:
        """:func:`public_prefix` of an event, the domain read from the Host header if the
        event lacks ``requestContext.domainName``."""
        return public_prefix(
            path,
            request_context,
            domain
            if isinstance(domain, str) and domain
            else header_map.get(b"host", b"").decode("latin-1"),
            is_http_api=is_http_api,
        )

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
        response: dict[str, Any] = {
            "statusCode": status,
            # Not copied: the ResponseHeaders of one response serve that response only.
            "headers": unique if unique is not None else {},
            "body": text,
            "isBase64Encoded": is_base64,
        }
        if unique is None:
            # Repeated names (two Set-Cookie headers) need multiValueHeaders; API Gateway
            # merges the two maps, so each name goes in exactly one of them.
            groups = headers.groups
            response["headers"] = {
                name: values[0] for name, values in groups.items() if len(values) == 1
            }
            response["multiValueHeaders"] = {
                name: values for name, values in groups.items() if len(values) > 1
            }
        return response


def _is_execute_api(domain: str) -> bool:
    return ".execute-api." in domain


def mapping_in_path(event: Mapping[str, Any]) -> str:
    """The custom domain's base path mapping that a REST event keeps in ``path`` (decoded).

    On a custom domain API Gateway strips neither the mapping (``/v1``) nor, for a mapping
    without a stage, the stage from ``path`` or ``requestContext.path``. What the request
    matched is ``resource`` with ``pathParameters`` filled in (``/{proxy+}`` and
    ``{"proxy": "items/7"}`` is ``/items/7``), so whatever ``path`` has in front of that is
    where the API is mounted. ``""`` when the event does not say (no ``resource``, a
    parameter missing) or the route is the whole path.
    """
    resource = event.get("resource")
    path = event.get("path")
    if not isinstance(resource, str) or not isinstance(path, str) or resource[:1] != "/":
        return ""
    if "{" in resource:
        parameters = event.get("pathParameters")
        if not isinstance(parameters, dict):
            return ""
        route = _fill_parameters(resource, parameters)
        if route is None:
            return ""
    else:
        route = resource
    # API Gateway drops a trailing slash from parameters but not from `path`.
    tail, route = path.rstrip("/"), route.rstrip("/")
    if not route and resource != "/":
        return ""  # an empty greedy parameter: it would match any path
    if not tail.endswith(route):
        if "%" not in tail and "%" not in route:
            return ""
        tail, route = unquote(tail), unquote(route)  # one side sent decoded
        if not tail.endswith(route):
            return ""
    mount = tail[: len(tail) - len(route)]
    if mount[:1] != "/" or mount[-1:] == "/":
        return ""
    return unquote(mount) if "%" in mount else mount


def _fill_parameters(resource: str, parameters: Mapping[str, Any]) -> str | None:
    """``resource`` with each ``{name}`` / ``{name+}`` replaced by its value; ``None`` if one
    is missing."""
    parts: list[str] = []
    rest = resource
    while "{" in rest:
        before, _, after = rest.partition("{")
        name, closed, rest = after.partition("}")
        value = parameters.get(name[:-1] if name.endswith("+") else name)
        if not closed or not isinstance(value, str):
            return None
        parts += (before, value)
    parts.append(rest)
    return "".join(parts)


def public_prefix(
    path: str, request_context: Mapping[str, Any], domain: str, *, is_http_api: bool
) -> str:
    """What the client's URL path has before the event's ``path`` (decoded, ``""`` if none).

    REST API strips the stage (``/prod`` on ``*.execute-api.*`` hosts) from ``path`` but keeps
    it in ``requestContext.path``, so the prefix is whatever ``requestContext.path`` has in
    front of ``path`` (a custom domain's mapping stays in both: :func:`mapping_in_path`
    finds it). Without a usable
    ``requestContext.path`` (absent in hand-made events, or not ending in ``path``) a REST
    event on an execute-api host gets ``/{stage}``. HTTP API never strips anything.
    """
    context_path = request_context.get("path")
    if isinstance(context_path, str) and context_path:
        # Compare decoded (HTTP API 1.0 sends requestContext.path decoded, path encoded) and
        # without trailing slashes (REST adds one to requestContext.path for some routes).
        full = (unquote(context_path) if "%" in context_path else context_path).rstrip("/")
        tail = path.rstrip("/")
        if full.endswith(tail):
            prefix = full[: len(full) - len(tail)].rstrip("/")
            if not prefix or prefix.startswith("/"):
                return prefix
    stage = request_context.get("stage")
    if (
        not is_http_api
        and isinstance(stage, str)
        and stage not in ("", "$default")
        and _is_execute_api(domain)
    ):
        return f"/{stage}"
    return ""


SOURCE = RestApiSource()
