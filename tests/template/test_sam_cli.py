"""The SAM toolchain accepts the template: `sam validate --lint`, cfn-lint, the SAM transform,
and `sam build` (which needs a python3.13 to match the function's runtime)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.template.cfn import REPO

pytestmark = pytest.mark.template

SAM_VENV = REPO / ".venv-sam"
RUNTIME = "python3.13"


def _tool(name: str) -> Path:
    path = SAM_VENV / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make sam-setup` (CI's `make test` does it first)")
    return path


def _works(python: Path | str) -> bool:
    # A pyenv shim exists on PATH even when its version is not selected, and then fails.
    try:
        result = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "(3, 13)"


def _pyenv_roots() -> list[Path]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            roots.append(Path(found.stdout.strip()))
    roots.append(Path.home() / ".pyenv")
    return roots


def find_python313() -> Path:
    """A working python3.13: on PATH, else an installed pyenv version."""
    on_path = shutil.which(RUNTIME)
    if on_path and _works(on_path):
        return Path(on_path)
    for root in _pyenv_roots():
        for candidate in sorted((root / "versions").glob("3.13*/bin/python3.13"), reverse=True):
            if _works(candidate):
                return candidate
    pytest.fail(
        "sam build needs a python3.13 (the function's runtime) and none works here: install one "
        "(e.g. `pyenv install 3.13`, or apt's python3.13) and put it on PATH"
    )


def _environment(python: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        # Offline and anonymous: dummy credentials, a region, no telemetry.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_CONTACT_FOR_EMAIL": "0",
    }
    env.pop("AWS_PROFILE", None)
    if python is not None:
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command: list[str | Path], env: dict[str, str], timeout: int = 600) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{output}"
    return output


def test_sam_validate_with_lint_passes() -> None:
    command: list[str | Path] = [
        _tool("sam"),
        "validate",
        "--lint",
        "--template-file",
        "template.yaml",
    ]
    output = _run(command, _environment())
    assert "is a valid SAM Template" in output


def test_cfn_lint_reports_nothing_not_even_informational() -> None:
    # Informational rules included: stateful resources state their deletion policies.
    _run([_tool("cfn-lint"), "--include-checks", "I", "--", "template.yaml"], _environment())


_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

with open("template.yaml", encoding="utf-8") as handle:
    template = yaml_parse(handle.read())
# The transform wants packaged code; where it lives is irrelevant to what is checked.
template["Resources"]["IngestFunction"]["Properties"]["CodeUri"] = "s3://bucket/key.zip"
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


def test_sam_transform_yields_the_event_source_and_no_extra_permissions() -> None:
    output = _run([SAM_VENV / "bin" / "python", "-c", _TRANSFORM], _environment())
    resources: dict[str, Any] = json.loads(output)["Resources"]
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    (mapping,) = mappings
    properties = mapping["Properties"]
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    assert properties["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindowSeconds"}
    # No role of SAM's making, so no AWSLambdaSQSQueueExecutionRole on every queue.
    roles = [name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    assert roles == ["FunctionRole"]
    function = resources["IngestFunction"]["Properties"]
    # MaximumConcurrency + 2 reserved, behind the ReserveConcurrency switch (docs/capacity.md).
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesConcurrency",
            {"Fn::FindInMap": ["ReservedConcurrency", {"Ref": "MaximumConcurrency"}, "Executions"]},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Architectures"] == ["arm64"]


def test_sam_build_packages_the_handler_with_its_pinned_dependencies(tmp_path: Path) -> None:
    python = find_python313()
    build_dir = tmp_path / "build"
    _run(
        [
            _tool("sam"),
            "build",
            "--template-file",
            "template.yaml",
            "--build-dir",
            build_dir,
            "--cache-dir",
            tmp_path / "cache",
            "--no-cached",
        ],
        _environment(python),
    )
    package = build_dir / "IngestFunction"
    assert (package / "app.py").is_file()
    assert (package / "ingest" / "records.py").is_file()
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "src" / "handler" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name, version in pins.items():
        dist = name.replace("-", "_")
        assert (package / f"{dist}-{version}.dist-info").is_dir(), f"{name}=={version} not packaged"
    # Nothing dev-only travels with the function.
    assert not (package / "tests").exists()
    assert not list(package.glob("pytest*"))
    built = (build_dir / "template.yaml").read_text(encoding="utf-8")
    assert "CodeUri: IngestFunction" in built


CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def test_checkov_reports_nothing_unexplained() -> None:
    # Every skipped check carries its reason in the template (Metadata.checkov.skip.comment).
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-setup` (`make test` does it first)")
    output = _run(
        [
            CHECKOV,
            "--file",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--compact",
            "--skip-download",  # offline: no guideline links
            "--output",
            "json",
        ],
        _environment(),
    )
    report = json.loads(output[output.index("{") :])
    assert report["results"]["failed_checks"] == []
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the template's suppressions should show up as skipped"
    for check in skipped:
        reason = check.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 40, (check["check_id"], reason)
