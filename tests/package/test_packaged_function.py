"""What `sam build` packages runs on the function's runtime with nothing but itself on the path.

Every other test imports src/handler from the source tree with the dev virtualenv on sys.path, so
a dependency missing from src/handler/requirements.txt, or code that fails only on the runtime,
would show after `sam deploy`. Here the built function runs in `python3.13 -I -S` (no
site-packages, no PYTHON* variables, no current directory on the path) whose path holds the
standard library and the build directory only, and processes a sample event against the local
stack: the local Data API on PostgreSQL and moto's SQS, reached through the SDK's standard
AWS_ENDPOINT_URL_<SERVICE> variables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws_doubles import moto_server
from local.model import FAST
from local.stack import LocalDataApi
from tests.template.test_sam_cli import SAM_VENV, find_python313

ROOT = Path(__file__).resolve().parents[2]
EVENT = ROOT / "events" / "sqs-clean-batch.json"
DDL = (ROOT / "sql" / "create_table.sql").read_text()
TABLE = "public.appsflyer_events"
# One target: the test is about the package, not about the multi-target rules.
CLUSTER, DATABASE = "package-cluster", "dev"
TARGET = {
    "name": "primary",
    "database": DATABASE,
    "cluster_identifier": CLUSTER,
    "db_user": "ingest",
}

# Runs inside the clean interpreter: argv = build directory, event file, response file.
_RUNNER = """
import importlib.util, json, os, sys, sysconfig

build, event_path, response_path = sys.argv[1:4]
sys.path.insert(0, build)
# Only the package and the standard library: nothing from the dev virtualenv or the source tree.
dev_only = ("pytest", "psycopg", "moto", "mypy_boto3_sqs", "local", "demo", "tests")
leaked = [name for name in dev_only
          if importlib.util.find_spec(name) is not None]
assert not leaked, f"importable from outside the package: {leaked}"

import app

# local.lambda_context.LambdaContextStub's attributes, restated: nothing outside the package
# may be importable here.
class Context:
    function_name = "sqs-redshift-ingest"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sqs-redshift-ingest"
    aws_request_id = "packaged-function-test"

    def get_remaining_time_in_millis(self):
        return 60_000

with open(event_path, encoding="utf-8") as handle:
    event = json.load(handle)
response = app.lambda_handler(event, Context())

# Every module the run loaded came from the package or the standard library.
homes = (build, sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
foreign = sorted(
    f"{name}: {module.__file__}"
    for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not any(module.__file__.startswith(home + os.sep) for home in homes)
)
assert not foreign, f"loaded from outside the package: {foreign}"
assert sys.modules["boto3"].__file__.startswith(build + os.sep)
with open(response_path, "w", encoding="utf-8") as handle:
    json.dump({"response": response, "python": list(sys.version_info[:2])}, handle)
"""

# Runs in the runtime's interpreter: argv = build directory. Prints every module of the package
# whose bytecode is missing or would not be used as is (another interpreter's magic number, or a
# pyc checked against its source), one per line.
_BYTECODE_CHECK = """
import importlib.util, pathlib, sys

unusable = []
for source in sorted(pathlib.Path(sys.argv[1]).rglob("*.py")):
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        unusable.append(f"{source}: no {cached.name}")
        continue
    header = cached.read_bytes()[:8]
    flags = int.from_bytes(header[4:8], "little")
    if header[:4] != importlib.util.MAGIC_NUMBER:
        unusable.append(f"{source}: {cached.name} is for another interpreter")
    elif flags != 0b01:  # PEP 552: hash-based (bit 0), not checked against the source (bit 1)
        unusable.append(f"{source}: {cached.name} is checked against its source (flags {flags})")
print("\\n".join(unusable))
"""


def _sam_environment(python: Path, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_CONTACT_FOR_EMAIL": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
    }


@pytest.fixture(scope="module")
def built_function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build`'s output for the function, built with the runtime's python3.13."""
    python = find_python313()  # fails, naming what to install, when there is none
    tmp = tmp_path_factory.mktemp("sam")
    build_dir = tmp / "build"
    command = [
        str(SAM_VENV / "bin" / "sam"),
        "build",
        "--template-file",
        "template.yaml",
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(tmp / "cache"),
        "--no-cached",
    ]
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is missing: run `make sam-setup` (`make test` does it first)")
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=_sam_environment(python, tmp),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}{result.stderr}"
    return build_dir


@pytest.fixture(scope="module")
def local_stack() -> Iterator[tuple[LocalDataApi, str]]:
    """The local Data API on PostgreSQL, and moto's server for SQS."""
    with LocalDataApi(model=FAST) as data_api, moto_server() as moto_endpoint:
        yield data_api, moto_endpoint


def _prepare_target(data_api: LocalDataApi) -> None:
    """The one place the local stack learns about the target and gets its table."""
    data_api.declare_target(CLUSTER, "cluster", databases=(DATABASE,))
    data_api.execute_ddl(CLUSTER, DATABASE, DDL)


def _function_environment(
    data_api: LocalDataApi, moto_endpoint: str, dlq_url: str, tmp: Path
) -> dict[str, str]:
    """What Lambda would set, from scratch: no variable of the test process leaks in."""
    return {
        # The function's settings (src/handler/ingest/config.py); tunables keep their defaults.
        "REDSHIFT_TARGETS": json.dumps([TARGET]),
        "TARGET_TABLE": TABLE,
        "DEAD_LETTER_QUEUE_URL": dlq_url,
        "POWERTOOLS_SERVICE_NAME": "sqs-redshift-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "SqsRedshiftIngest",
        # The SDK's own variables: the local stack, dummy credentials, no developer's ~/.aws.
        "AWS_ENDPOINT_URL_REDSHIFT_DATA": data_api.endpoint_url,
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }


def _runtime_python() -> Path:
    """The python3.13 binary itself: a pyenv shim would need pyenv's variables, which the
    function's clean environment does not carry."""
    found = subprocess.run(
        [str(find_python313()), "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return Path(found.stdout.strip())


def _declared_runtime(build_dir: Path) -> tuple[int, int]:
    found = re.findall(r"Runtime:\s*python(\d+)\.(\d+)", (build_dir / "template.yaml").read_text())
    assert len(set(found)) == 1, f"expected one python runtime in the template, found {found}"
    major, minor = found[0]
    return int(major), int(minor)


def test_every_module_of_the_built_package_has_bytecode_its_runtime_uses_unchecked(
    built_function: Path,
) -> None:
    # Given the package sam build made (Lambda cannot write __pycache__ into /var/task, so a
    # module without bytecode is compiled anew at every cold start)
    package = built_function / "IngestFunction"
    sources = list(package.rglob("*.py"))
    assert package / "app.py" in sources
    assert package / "ingest" / "sql.py" in sources

    # When the runtime's interpreter looks for each module's bytecode where it would import it
    result = subprocess.run(
        [str(_runtime_python()), "-I", "-S", "-c", _BYTECODE_CHECK, str(package)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    # Then every module, ours and the dependencies', has an unchecked-hash pyc for that runtime
    assert result.stdout.strip() == "", result.stdout


def test_the_built_package_processes_a_clean_batch_on_its_runtime(
    built_function: Path, local_stack: tuple[LocalDataApi, str], tmp_path: Path
) -> None:
    # Given the package sam build made, an empty table and an empty dead-letter queue
    data_api, moto_endpoint = local_stack
    package = built_function / "IngestFunction"
    assert (package / "app.py").is_file(), f"no app.py in {package}"
    _prepare_target(data_api)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dlq_url = sqs.create_queue(QueueName="packaged-function-dlq")["QueueUrl"]
    event: dict[str, Any] = json.loads(EVENT.read_text())
    message_ids = [record["messageId"] for record in event["Records"]]
    response_file = tmp_path / "response.json"

    # When the runtime's interpreter, isolated, runs the handler from the package on the event
    python = _runtime_python()
    result = subprocess.run(
        [str(python), "-I", "-S", "-c", _RUNNER, str(package), str(EVENT), str(response_file)],
        cwd=tmp_path,
        env=_function_environment(data_api, moto_endpoint, dlq_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then it answered with no failures, on the runtime the template declares
    assert result.returncode == 0, f"the packaged function failed:\n{result.stdout}{result.stderr}"
    outcome = json.loads(response_file.read_text())
    assert outcome["response"] == {"batchItemFailures": []}
    assert tuple(outcome["python"]) == _declared_runtime(built_function)
    # And every record is in PostgreSQL exactly once, and nothing was dead-lettered
    with data_api.connect(CLUSTER, DATABASE) as conn:
        rows = conn.execute(f"SELECT sqs_message_id FROM {TABLE}").fetchall()
    assert sorted(row[0] for row in rows) == sorted(message_ids)
    letters = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)
    assert letters.get("Messages", []) == []
