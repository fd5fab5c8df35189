"""The source registry: every source listed once, each imported only when an event needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lambda_asgi.events import REGISTRY, all_sources, describe_event

ROOT = Path(__file__).resolve().parent.parent
ALL_MODULES = sorted({module for module, _ in REGISTRY})


def run_fresh(code: str) -> object:
    """What ``code`` prints as JSON on its last line, run in a new interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


IMPORTED = """
import sys
def imported():
    return sorted(
        name.rpartition(".")[2] for name in sys.modules
        if name.startswith("lambda_asgi.events.") and name != "lambda_asgi.events.base"
    )
"""


def test_every_registry_entry_is_a_distinct_source() -> None:
    sources = all_sources()
    assert len(sources) == len(REGISTRY) == len({source.name for source in sources})
    assert [type(source).__module__.rpartition(".")[2] for source in sources] == [
        module for module, _ in REGISTRY
    ]


def test_importing_the_package_imports_only_the_payload_2_sources() -> None:
    assert run_fresh(
        IMPORTED
        + """
import json, lambda_asgi
print(json.dumps(imported()))
"""
    ) == ["function_url", "http_api_v2"]


def test_requests_percent_code_without_importing_urllib_parse() -> None:
    """It costs a cold start as much as the whole package; only unquoting text that mixes raw
    non-ASCII characters with escapes (which AWS never sends) falls back to it."""
    before, after_import, after_requests, after_fallback, raw_paths = run_fresh(  # type: ignore[misc]
        """
import json, sys
before = "urllib.parse" in sys.modules
from lambda_asgi.events import detect_source
from lambda_asgi.events.base import unquote
from lambda_asgi.config import AdapterConfig
after_import = "urllib.parse" in sys.modules
def v2_event(path):
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "203.0.113.7"},
                           "stage": "$default", "domainName": "api.example.com"},
        "isBase64Encoded": False,
    }
def paths(path):
    event = v2_event(path)
    scope = detect_source(event).to_scope(event, None, AdapterConfig())[0]
    return [scope["path"], scope["raw_path"].decode()]
raw_paths = [paths("/items/1"), paths("/caf\u00e9 menu"), [unquote("/a%2Fb%20c")]]
after_requests = "urllib.parse" in sys.modules
assert unquote("caf\u00e9%20x") == "caf\u00e9 x"
print(json.dumps([before, after_import, after_requests, "urllib.parse" in sys.modules,
                  raw_paths]))
"""
    )
    if before:
        pytest.skip("this interpreter imports urllib.parse at start-up")
    assert [after_import, after_requests, after_fallback] == [False, False, True]
    assert raw_paths == [
        ["/items/1", "/items/1"],
        ["/caf\u00e9 menu", "/caf%C3%A9%20menu"],
        ["/a/b c"],
    ]


@pytest.mark.parametrize(
    ("builder", "name", "modules"),
    [
        ("rest_event", "apigw-rest-v1", ["function_url", "http_api_v2", "rest_v1"]),
        ("alb_event", "alb", ["alb", "function_url", "http_api_v2", "rest_v1"]),
        (
            "edge_event",
            "lambda-at-edge",
            ["alb", "function_url", "http_api_v2", "lambda_edge", "rest_v1"],
        ),
        ("lattice_event", "vpc-lattice-v2", ALL_MODULES),
    ],
)
def test_a_source_is_imported_when_its_first_event_arrives(
    builder: str, name: str, modules: list[str]
) -> None:
    """Only the sources before it in the registry are imported with it, and it is found."""
    assert run_fresh(
        IMPORTED
        + f"""
import json
from lambda_asgi.events import detect_source
from tests.events import {builder}
source = detect_source({builder}())
print(json.dumps([source.name, imported()]))
"""
    ) == [name, modules]


def test_an_unsupported_event_imports_every_source_and_names_them_all() -> None:
    message, modules = run_fresh(  # type: ignore[misc]
        IMPORTED
        + """
import json
from lambda_asgi import UnsupportedEventError
from lambda_asgi.events import detect_source
try:
    detect_source({"Records": [{"eventSource": "aws:sqs"}]})
except UnsupportedEventError as error:
    print(json.dumps([str(error), imported()]))
"""
    )
    assert modules == ALL_MODULES
    assert message == describe_event({"Records": [{"eventSource": "aws:sqs"}]})
    for source in all_sources():
        assert source.title in message


def test_threads_that_race_to_import_a_source_all_find_it() -> None:
    """The first events of a function can arrive on several threads at once."""
    assert run_fresh(
        IMPORTED
        + """
import json, threading
from lambda_asgi import events
from tests.events import lattice_event
event = lattice_event("GET", "/")
barrier = threading.Barrier(8)
found = []
def detect():
    barrier.wait()
    found.append(events.detect_source(event).name)
threads = [threading.Thread(target=detect) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps([sorted(set(found)), len(found), [s.name for _, s in events._marked]]))
"""
    ) == [
        ["vpc-lattice-v2"],
        8,
        # The Lattice v1 source, after it in the registry, was never asked.
        [source.name for source in all_sources()][:-1],
    ]
