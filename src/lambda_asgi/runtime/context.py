"""The ``context`` of one invocation, built from the ``/next`` headers as AWS's runtime does."""

from __future__ import annotations

import json
from typing import Any

from ..context import LambdaContext
from .client import NextInvocation
from .faults import RuntimeFault

__all__ = ["Client", "ClientContext", "CognitoIdentity", "invocation_context"]


class CognitoIdentity:
    """``context.identity``: the Amazon Cognito identity of a mobile SDK invocation."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data: dict[str, Any]) -> None:
        self.cognito_identity_id: str | None = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = data.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity(cognito_identity_id={self.cognito_identity_id!r}, "
            f"cognito_identity_pool_id={self.cognito_identity_pool_id!r})"
        )


class Client:
    """``context.client_context.client``: the mobile app that made the invocation."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, data: dict[str, Any]) -> None:
        self.installation_id: str | None = data.get("installation_id")
        self.app_title: str | None = data.get("app_title")
        self.app_version_name: str | None = data.get("app_version_name")
        self.app_version_code: str | None = data.get("app_version_code")
        self.app_package_name: str | None = data.get("app_package_name")


class ClientContext:
    """``context.client_context``: the client, custom and env data of a mobile SDK call."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, data: dict[str, Any]) -> None:
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom: Any = data.get("custom")
        self.env: Any = data.get("env")


def invocation_context(invocation: NextInvocation) -> LambdaContext:
    """The managed runtime's context attributes for ``invocation``."""
    identity = _json_header(invocation.cognito_identity, "Lambda-Runtime-Cognito-Identity")
    client = _json_header(invocation.client_context, "Lambda-Runtime-Client-Context")
    return LambdaContext(
        aws_request_id=invocation.request_id,
        invoked_function_arn=invocation.invoked_function_arn,
        deadline_ms=invocation.deadline_ms,
        identity=CognitoIdentity(identity) if isinstance(identity, dict) else None,
        client_context=ClientContext(client) if isinstance(client, dict) else None,
        tenant_id=invocation.tenant_id,
    )


def _json_header(value: str | None, name: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise RuntimeFault(
            "Runtime.LambdaContextUnmarshalError", f"the {name} header is not valid JSON"
        ) from None
