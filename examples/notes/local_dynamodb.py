"""An embedded DynamoDB for running the notes example with no AWS account.

moto's threaded server runs in this process on a free 127.0.0.1 port: a real HTTP endpoint
that boto3 talks to with ``endpoint_url`` (nothing in boto3 is patched), so the app runs
exactly the code it runs in AWS. Data lives in memory until the process exits.

    local = start_local_dynamodb()
    os.environ.update(app_environment(local.endpoint_url))
    ...
    local.stop()

``python examples/notes/local_dynamodb.py`` starts one and prints the variables to export.
moto is a development dependency: this module is not part of the deployment package.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import NamedTuple

import boto3
from moto.server import ThreadedMotoServer

DEFAULT_TABLE = "notes"
DEFAULT_REGION = "us-east-1"

# moto accepts any credentials; these are placeholders so that boto3 never looks for (or
# uses) real ones while talking to the local endpoint.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class LocalDynamoDB(NamedTuple):
    """A running embedded DynamoDB: its ``endpoint_url`` and ``stop()``."""

    endpoint_url: str
    stop: Callable[[], None]


def start_local_dynamodb(
    table: str = DEFAULT_TABLE, *, region: str = DEFAULT_REGION, quiet: bool = True
) -> LocalDynamoDB:
    """Start moto's server on a free localhost port and create the notes table in it.

    The table (partition key ``id``, a string) is created unless it exists already: moto
    keeps its data per process, so a second server in the same process sees the first's.
    ``quiet`` silences the server's line per request (werkzeug's access log).
    """
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        pass
    except BaseException:
        server.stop()
        raise
    return LocalDynamoDB(endpoint_url, server.stop)


def app_environment(
    endpoint_url: str, table: str = DEFAULT_TABLE, *, region: str = DEFAULT_REGION
) -> dict[str, str]:
    """The environment variables that point the notes app at a local DynamoDB."""
    return {
        "NOTES_TABLE": table,
        "DYNAMODB_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **LOCAL_CREDENTIALS,
        # Locally there is no X-Ray daemon to send traces to.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def main() -> int:
    """Run an embedded DynamoDB until interrupted, printing how to point the app at it."""
    local = start_local_dynamodb()
    for name, value in app_environment(local.endpoint_url).items():
        print(f"export {name}={value}")
    print(f"# DynamoDB (moto) listening on {local.endpoint_url}; Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
