"""template.yaml: valid for cfn-lint and the SAM translator, and every path in it is real.

Offline: the SAM translator runs on the template as ``sam package`` leaves it (local code
paths replaced by S3 locations, an image URI for image functions), and cfn-lint checks both
the SAM template and the CloudFormation that the translator produces. The deployment
packages are then laid out as Lambda would see them (``/var/task`` = the function's
``CodeUri``, ``/opt/python`` = the layer's ``ContentUri``) and the handler is imported and
invoked from there in a fresh interpreter that cannot see this checkout.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.events import http_api_v2_event

cfnlint_api = pytest.importorskip("cfnlint.api")
cfnlint_decode = pytest.importorskip("cfnlint.decode.decode")
sam_transform = pytest.importorskip("samtranslator.translator.transform")

TEMPLATE = ROOT / "template.yaml"
FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
# Where Lambda puts a function's package and its layers (python/ of each layer).
TASK_ROOT = "/var/task/"
LAYER_ROOT = "/opt/python/"


def load_template(text: str | None = None) -> dict[str, Any]:
    """The template as data (CloudFormation tags such as !Ref decoded by cfn-lint)."""
    template, errors = cfnlint_decode.decode_str(text or TEMPLATE.read_text())
    assert not errors, errors
    data: dict[str, Any] = json.loads(json.dumps(template))
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function_env(template: dict[str, Any], name: str) -> dict[str, Any]:
    """A function's environment variables with the Globals merged in, as SAM merges them."""
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    props = template["Resources"][name]["Properties"]
    return {
        **globals_env.get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }


class NoManagedPolicies:
    """The translator only asks IAM for managed policy names; the template uses none."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as ``sam package`` uploads it: code in S3, images in ECR."""
    result = copy.deepcopy(template)
    for resource in result["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://deployment-bucket/{props[key].strip('/')}.zip"
        if props.get("PackageType") == "Image":
            props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/notes:python3.12"
    return result


def translate(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``template``."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = sam_transform.transform(packaged(template), {}, NoManagedPolicies())
    return result


def lint(template: dict[str, Any] | str) -> list[str]:
    text = template if isinstance(template, str) else json.dumps(template)
    return [str(match) for match in cfnlint_api.lint(text, regions=["us-east-1"])]


def test_sam_template_passes_cfn_lint() -> None:
    assert lint(TEMPLATE.read_text()) == []


def test_translated_template_passes_cfn_lint(monkeypatch: pytest.MonkeyPatch) -> None:
    cloudformation = translate(load_template(), monkeypatch)
    kinds = {resource["Type"] for resource in cloudformation["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Url",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGateway::RestApi",
        "AWS::DynamoDB::Table",
    } <= kinds
    assert lint(cloudformation) == []


def test_validation_catches_a_broken_template(monkeypatch: pytest.MonkeyPatch) -> None:
    # The checks above are only worth something if they can fail.
    broken = load_template()
    props = broken["Resources"]["NotesStreamingFunction"]["Properties"]
    props["FunctionUrlConfig"]["InvokeMode"] = "STREAMING"
    assert any("STREAMING" in error for error in lint(translate(broken, monkeypatch)))
    del broken["Resources"]["NotesFunction"]["Properties"]["Handler"]
    with pytest.raises(Exception, match="Handler"):
        translate(broken, monkeypatch)


def test_three_deployments_as_the_readme_describes() -> None:
    template = load_template()
    functions = resources(template, FUNCTION)
    zip_functions = {n: f for n, f in functions.items() if "PackageType" not in f["Properties"]}
    images = {n: f for n, f in functions.items() if f["Properties"].get("PackageType") == "Image"}
    assert zip_functions and images
    for name, function in zip_functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", name
        assert props["Handler"] == "lambda_asgi.handler", name
    buffered = zip_functions["NotesFunction"]["Properties"]
    assert {e["Type"] for e in buffered["Events"].values()} == {"HttpApi", "Api"}
    for name, function in functions.items():
        env = function_env(template, name)
        assert env["NOTES_TABLE"] == {"Ref": "NotesTable"}, name
        assert env["LAMBDA_ASGI_APP"], name
        url = function["Properties"].get("FunctionUrlConfig")
        streaming = url is not None and url["InvokeMode"] == "RESPONSE_STREAM"
        # A streaming URL needs our runtime in streaming mode; on the managed runtime that
        # takes the exec wrapper (its own loop cannot stream).
        assert (env.get("LAMBDA_ASGI_INVOKE_MODE") == "response_stream") == streaming, name
        if streaming and name in zip_functions:
            assert env["AWS_LAMBDA_EXEC_WRAPPER"], name


def stage_package(template: dict[str, Any], name: str, root: Path) -> tuple[Path, Path]:
    """Lay out function ``name`` as Lambda would: ``(task_root, layers_python_dir)``."""
    props = template["Resources"][name]["Properties"]
    task = root / "var" / "task"
    opt_python = root / "opt" / "python"
    code = ROOT / props["CodeUri"]
    assert code.is_dir(), f"{name}: CodeUri {props['CodeUri']!r} is not a folder of the repo"
    # sam build leaves requirements.txt's packages out of the folder: they come from pip.
    shutil.copytree(code, task, ignore=shutil.ignore_patterns("__pycache__"))
    opt_python.mkdir(parents=True)
    for layer in props.get("Layers", []):
        layer_name = layer["Ref"]
        layer_props = template["Resources"][layer_name]["Properties"]
        assert template["Resources"][layer_name]["Type"] == LAYER
        content = ROOT / layer_props["ContentUri"]
        assert content.is_dir(), f"{layer_name}: ContentUri is not a folder of the repo"
        # BuildMethod python3.x: sam build puts the layer's files under python/.
        assert template["Resources"][layer_name]["Metadata"]["BuildMethod"].startswith("python")
        shutil.copytree(content, opt_python, dirs_exist_ok=True, ignore=_ignore_build_junk)
    return task, opt_python


def _ignore_build_junk(_folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}


def requirements(task: Path) -> list[str]:
    lines = (task / "requirements.txt").read_text().splitlines()
    return [line.split(">")[0].split("[")[0].strip() for line in lines if line[:1].isalnum()]


IMPORT_CHECK = """
import importlib, json, os, sys
module_name, _, attribute = os.environ["HANDLER"].rpartition(".")
module = importlib.import_module(module_name)
handler = getattr(module, attribute)
app_module = sys.modules[os.environ["LAMBDA_ASGI_APP"].partition(":")[0]]
event = json.loads(os.environ["EVENT"])
response = handler(event, None)
print(json.dumps({
    "handler_file": module.__file__,
    "app_file": app_module.__file__,
    "response": response,
}))
"""


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, f in resources(load_template(), FUNCTION).items()
        if f["Properties"].get("PackageType", "Zip") == "Zip"
    ),
)
def test_zip_handler_and_app_resolve_in_the_deployment_package(name: str, tmp_path: Path) -> None:
    template = load_template()
    props = template["Resources"][name]["Properties"]
    env = function_env(template, name)
    task, opt_python = stage_package(template, name, tmp_path)
    assert {"fastapi", "boto3", "aws-lambda-powertools"} <= set(requirements(task))
    # Third-party packages come from this venv (as pip would install them); the checkout's
    # own src/ is NOT on the path (-S skips the editable install's .pth file), so
    # lambda_asgi can only come from the staged layer.
    site_packages = sysconfig.get_paths()["purelib"]
    event = http_api_v2_event("GET", "/icon.png", "size=4")
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(task), str(opt_python), site_packages]),
        "HANDLER": props["Handler"],
        "LAMBDA_ASGI_APP": env["LAMBDA_ASGI_APP"],
        "NOTES_TABLE": f"table-{uuid.uuid4().hex[:6]}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unused",
        "AWS_SECRET_ACCESS_KEY": "unused",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "EVENT": json.dumps(event),
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", IMPORT_CHECK],
        cwd=task,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert Path(report["handler_file"]).is_relative_to(opt_python)
    assert Path(report["app_file"]) == task / "app.py"
    # A real request, answered from the staged package.
    response = report["response"]
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "image/png"
    assert response["isBase64Encoded"] is True


def staged_path(path: str, task: Path, opt_python: Path) -> Path:
    """Where an absolute path inside the Lambda sandbox is in the staged package."""
    for prefix, folder in ((TASK_ROOT, task), (LAYER_ROOT, opt_python)):
        if path.startswith(prefix):
            return folder / path[len(prefix) :]
    raise AssertionError(f"{path!r} is neither in {TASK_ROOT} nor in {LAYER_ROOT}")


def test_exec_wrapper_is_an_executable_in_the_package(tmp_path: Path) -> None:
    template = load_template()
    wrapped = {
        name: function_env(template, name)["AWS_LAMBDA_EXEC_WRAPPER"]
        for name in resources(template, FUNCTION)
        if "AWS_LAMBDA_EXEC_WRAPPER" in function_env(template, name)
    }
    assert wrapped, "no function uses the exec wrapper"
    for name, wrapper in wrapped.items():
        task, opt_python = stage_package(template, name, tmp_path / name)
        script = staged_path(wrapper, task, opt_python)
        assert script.is_file(), f"{name}: AWS_LAMBDA_EXEC_WRAPPER={wrapper} does not exist"
        assert os.access(script, os.X_OK), f"{name}: {wrapper} is not executable"
        assert script.read_bytes().startswith(b"#!"), f"{name}: {wrapper} has no shebang"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


# The container-image deploy glue that lambda-asgi ships (its ENTRYPOINT is our runtime).
SHIPPED_DOCKERFILE = ROOT / "src" / "lambda_asgi" / "runtime" / "deploy" / "Dockerfile"


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, f in resources(load_template(), FUNCTION).items()
        if f["Properties"].get("PackageType") == "Image"
    ),
)
def test_image_dockerfile_builds_the_app_with_our_runtime(name: str) -> None:
    template = load_template()
    metadata = template["Resources"][name]["Metadata"]
    context = ROOT / metadata["DockerContext"]
    assert context.is_dir(), f"{name}: DockerContext is not a folder"
    dockerfile = context / metadata["Dockerfile"]
    assert dockerfile.is_file(), f"{name}: Dockerfile {metadata['Dockerfile']} is missing"
    instructions = dockerfile_instructions(dockerfile)

    [entrypoint] = [args for kind, args in instructions if kind == "ENTRYPOINT"]
    [shipped] = [a for k, a in dockerfile_instructions(SHIPPED_DOCKERFILE) if k == "ENTRYPOINT"]
    assert json.loads(entrypoint) == json.loads(shipped)
    [workdir] = [args for kind, args in instructions if kind == "WORKDIR"]
    assert workdir == TASK_ROOT.rstrip("/")

    # Build arguments: the Dockerfile's defaults, then what the template passes.
    build_args = dict(
        args.partition("=")[::2] for kind, args in instructions if kind == "ARG"
    ) | metadata.get("DockerBuildArgs", {})
    assert all(build_args.values()), f"{name}: a build argument has no value: {build_args}"
    copied: dict[str, str] = {}
    for kind, args in instructions:
        if kind == "COPY":
            for arg, value in build_args.items():
                args = args.replace(f"${{{arg}}}", value).replace(f"${arg}", value)
            *sources, destination = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert (context / source).exists(), f"{name}: COPY {source}: no such path"
                copied[source] = destination
    # LAMBDA_ASGI_APP's module lands in the working directory (the image's sys.path[0]).
    module = function_env(template, name)["LAMBDA_ASGI_APP"].partition(":")[0]
    module_file = module.replace(".", "/") + ".py"
    in_workdir = [s for s, d in copied.items() if d in (".", "./", workdir, workdir + "/")]
    assert any(
        (context / source / module_file).is_file()
        if (context / source).is_dir()
        else source.endswith(module_file)
        for source in in_workdir
    ), f"{name}: {module_file} is not copied to {workdir}: {in_workdir}"
    # lambda-asgi comes from this checkout, the app's dependencies from its requirements.
    assert "src" in copied
    requirement_files = [s for s in copied if s.endswith("requirements.txt")]
    assert requirement_files
    assert any(
        f"-r {Path(r).name}" in args
        for kind, args in instructions
        if kind == "RUN"
        for r in requirement_files
    )


def test_policies_allow_exactly_the_dynamodb_calls_the_app_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("moto.server")
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    from notes.app import NoteIn, NoteStore
    from notes.local_dynamodb import app_environment, start_local_dynamodb

    table = f"notes-{uuid.uuid4().hex[:8]}"
    local = start_local_dynamodb(table)
    try:
        for key, value in app_environment(local.endpoint_url, table).items():
            monkeypatch.setenv(key, value)
        store = NoteStore.from_env()
        calls: set[str] = set()
        store.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: calls.add(f"dynamodb:{model.name}")
        )
        note = store.create(NoteIn(title="policy check"))
        assert store.list_all() == [note]
        assert store.get(note.id) == note
        assert store.delete(note.id)
    finally:
        local.stop()

    cloudformation = translate(load_template(), monkeypatch)
    for name in resources(load_template(), FUNCTION):
        role = cloudformation["Resources"][f"{name}Role"]["Properties"]
        # Beyond SAM's logging / X-Ray policies, only the template's own policy resources.
        inline = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        assert inline == [], name
        own = [arn["Ref"] for arn in role["ManagedPolicyArns"] if isinstance(arn, dict)]
        assert own, name
        statements = [
            statement
            for policy in own
            for statement in cloudformation["Resources"][policy]["Properties"]["PolicyDocument"][
                "Statement"
            ]
        ]
        allowed = {a for s in statements for a in s["Action"] if a.startswith("dynamodb:")}
        assert allowed == calls, name
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert statement["Resource"] == {"Fn::GetAtt": ["NotesTable", "Arn"]}, name
        aws_managed = {arn for arn in role["ManagedPolicyArns"] if isinstance(arn, str)}
        assert aws_managed == {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }, name


def test_streaming_deployment_streams_note_events_end_to_end(tmp_path: Path) -> None:
    """NotesStreamingFunction as deployed: the staged package, started through the template's
    exec wrapper (as Lambda starts it) against a local Runtime API, on a local DynamoDB."""
    pytest.importorskip("moto.server")
    from lambda_asgi.local.runtime_api import RuntimeAPIServer

    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    from notes.local_dynamodb import app_environment, start_local_dynamodb

    name = "NotesStreamingFunction"
    template = load_template()
    env = function_env(template, name)
    task, opt_python = stage_package(template, name, tmp_path)
    wrapper = staged_path(env["AWS_LAMBDA_EXEC_WRAPPER"], task, opt_python)
    table = f"notes-{uuid.uuid4().hex[:8]}"
    local = start_local_dynamodb(table)
    log = tmp_path / "function.log"
    try:
        dynamodb = boto3_client(local.endpoint_url)
        with RuntimeAPIServer(function_name=name) as api, open(log, "wb") as log_file:
            child_env = {
                "PATH": os.environ.get("PATH", ""),
                **{k: v for k, v in env.items() if isinstance(v, str)},
                **app_environment(local.endpoint_url, table),
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "LAMBDA_TASK_ROOT": str(task),
                "_HANDLER": template["Resources"][name]["Properties"]["Handler"],
                # Where Lambda mounts the layer; the wrapper adds the task root before it.
                "PYTHONPATH": os.pathsep.join([str(opt_python), sysconfig.get_paths()["purelib"]]),
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
            # Lambda runs: $AWS_LAMBDA_EXEC_WRAPPER <interpreter> <managed runtime's arguments>
            command = [str(wrapper), sys.executable, "/var/runtime/bootstrap.py"]
            proc = subprocess.Popen(
                command, cwd=task, env=child_env, stdout=log_file, stderr=subprocess.STDOUT
            )
            try:
                event = http_api_v2_event(
                    "GET",
                    "/notes/events",
                    "limit=1&interval=0.05&timeout=30",
                    domain="abcdefghij.lambda-url.us-east-1.on.aws",
                )
                handle = api.submit(event)
                received = b""
                chunks = handle.iter_chunks(timeout=30)
                while b"event: snapshot" not in received:
                    received += next(chunks)
                written_at = time.monotonic()
                note = {"id": "n1", "title": "t", "body": "", "created_at": "2030-01-01"}
                dynamodb.put_item(TableName=table, Item={k: {"S": v} for k, v in note.items()})
                for chunk in chunks:
                    received += chunk
                handle.wait(10)
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        local.stop()

    output = log.read_text(errors="replace")
    assert handle.status == "success", output
    prelude, body = handle.http_response()
    assert prelude["statusCode"] == 200, output
    assert prelude["headers"]["content-type"] == "text/event-stream; charset=utf-8"
    blocks = [block.split("\n") for block in body.decode().split("\n\n")]
    assert blocks[-1] == [""]  # the stream ends with a complete event
    events = [(lines[:-1], json.loads(lines[-1].removeprefix("data: "))) for lines in blocks[:-1]]
    assert events == [
        (["event: snapshot"], {"notes": []}),
        (["event: created", "id: 1"], note),
        (["event: end"], {"reason": "limit", "changes": 1}),
    ]
    # The created event left the function after the note was written: it was streamed, not
    # buffered until the end.
    created_chunk = next(c for c in handle.chunks if b"event: created" in c.data)
    assert created_chunk.at > written_at


def boto3_client(endpoint_url: str) -> Any:
    """A DynamoDB client on the local endpoint, independent of the function's."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
