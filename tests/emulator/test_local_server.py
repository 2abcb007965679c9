"""`python -m local.server` (what `make local-api` runs): flags, and serving until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from local.model import BASE, FAST, HIGH, ClusterModel
from local.server import model_for, model_from_args, parse_args
from tests.interrupt import start_interruptible

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
TARGET = ["--cluster", "local-cluster"]


def test_default_model_is_the_base_setting() -> None:
    assert model_from_args(parse_args(TARGET)) == BASE
    assert model_from_args(parse_args([*TARGET, "--fast"])) == FAST
    assert model_from_args(parse_args([*TARGET, "--model", "fast"])) == FAST
    assert model_from_args(parse_args([*TARGET, "--model", "high"])) == HIGH


def test_model_flags() -> None:
    args = parse_args(
        [
            *TARGET,
            *("--slots", "0", "--latency-ms", "20", "--commit-ms", "50"),
            *("--commit-ms-per-kb", "1.5", "--table-locks", "off", "--quota", "50"),
        ]
    )
    assert model_from_args(args) == ClusterModel(
        slots=None,
        latency_seconds=0.02,
        commit_fixed_seconds=0.05,
        commit_seconds_per_kb=0.0015,
        one_writer_per_table=False,
        active_quota=50,
    )


def test_model_for_one_target() -> None:
    spec = "slow:slots=1,latency-ms=20,commit-ms=100,commit-ms-per-kb=2,table-locks=on,quota=10"
    assert model_for(spec, FAST) == (
        "slow",
        ClusterModel(
            slots=1,
            latency_seconds=0.02,
            commit_fixed_seconds=0.1,
            commit_seconds_per_kb=0.002,
            one_writer_per_table=True,
            active_quota=10,
        ),
    )
    with pytest.raises(ValueError, match="unknown model key"):
        model_for("slow:speed=1", FAST)


def test_throttle_flag() -> None:
    args = parse_args(
        [*TARGET, "--throttle", "ExecuteStatement=30", "--throttle", "DescribeStatement=100"]
    )
    assert dict(args.throttle) == {"ExecuteStatement": 30.0, "DescribeStatement": 100.0}


def test_targets_are_declared_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--cluster", "a", "--cluster", "b:dev,analytics", "--workgroup", "wg:x"])
    assert [(t.name, t.kind, sorted(t.databases)) for t in [*args.cluster, *args.workgroup]] == [
        ("a", "cluster", ["dev"]),
        ("b", "cluster", ["analytics", "dev"]),
        ("wg", "workgroup", ["x"]),
    ]
    assert args.bind_mode == "per-occurrence"
    assert parse_args([*TARGET, "--bind-mode", "shared"]).bind_mode == "shared"
    with pytest.raises(SystemExit):
        parse_args([])  # serving nothing is a mistake
    assert "--cluster NAME" in capsys.readouterr().err


def test_serves_until_interrupted() -> None:
    targets = ["--workgroup", "local-wg", "--cluster", "local-cluster:dev,analytics"]
    server = start_interruptible(
        [sys.executable, "-m", "local.server", "--port", "0", "--fast", *targets],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    try:
        endpoint = _endpoint_from(server)
        client = boto3.client(
            "redshift-data",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        response = client.execute_statement(
            Sql="SELECT 1", WorkgroupName="local-wg", Database="dev", WaitTimeSeconds=10
        )
        assert response["Status"] == "FINISHED"
        other = client.execute_statement(
            Sql="SELECT 1",
            ClusterIdentifier="local-cluster",
            DbUser="awsuser",
            Database="analytics",
            WaitTimeSeconds=10,
        )
        assert other["Status"] == "FINISHED"
        with pytest.raises(client.exceptions.ValidationException, match="endpoint doesn't exist"):
            client.execute_statement(Sql="SELECT 1", WorkgroupName="typo-wg", Database="dev")
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0


def _endpoint_from(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            if "AWS_ENDPOINT_URL_REDSHIFT_DATA=" in line:
                found.append(line.strip().split("=", 1)[1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)
    assert found, "the server printed no endpoint"
    return found[0]
