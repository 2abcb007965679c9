"""preflight end to end against the local Data API on PostgreSQL: the real boto3 client, the
function's own runner, renderer, reader and classifier, real SQL.

The tests assert what the run printed and left behind: every check's row, the exit code, the
scratch table gone, nothing left running, and no value in the output.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ingest import failure_text
from ingest.failure_text import FailureKind, Verdict
from local.model import FAST
from local.stack import LocalDataApi
from preflight.checks import CHECKS
from preflight.cli import main, parser, prepare
from preflight.context import Check, CheckResult, Context
from preflight.refusals import REFUSALS
from preflight.report import report
from preflight.session import run_session
from preflight.table import TABLE_PREFIX
from tests.interrupt import interrupt_once_table_exists

CLUSTER = "preflight-cluster"
REPO = Path(__file__).resolve().parents[2]
# Values preflight sends (rows.py, refusals.py) that must never reach its output; the service's
# errors quote some of them ("Value: '40000'").
VALUES = ("Brien", "na\u00efve", "\u00e9\u00e9\u00e9", "40000", "3000000000", "1234567890123")
FIELDS = ("check", "said", "concluded", "result")


@pytest.fixture
def local(data_api: LocalDataApi) -> LocalDataApi:
    data_api.declare_target(CLUSTER, "cluster", databases=("dev",))
    return data_api


def args(api: LocalDataApi, *extra: str) -> list[str]:
    return [
        "--cluster-id", CLUSTER, "--db-user", "ingest", "--database", "dev",
        "--endpoint-url", api.endpoint_url, "--region", "us-east-1", *extra,
    ]  # fmt: skip


def scratch_tables(api: LocalDataApi) -> list[str]:
    with api.connect(CLUSTER, "dev") as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE tablename LIKE %s",
            (TABLE_PREFIX + "%",),
        ).fetchall()
    return [row[0] for row in rows]


def report_rows(text: str) -> list[dict[str, str]]:
    """The table's rows, cut where the rule under the headings has its columns."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-----"))
    spans = [m.span() for m in re.finditer(r"-+", lines[start])]
    assert len(spans) == len(FIELDS), lines[start]
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        ends = [b for _, b in spans[:-1]] + [len(line)]
        cells = [line[a:end].strip() for (a, _), end in zip(spans, ends, strict=True)]
        rows.append(dict(zip(FIELDS, cells, strict=True)))
        assert rows[-1]["result"] in ("OK", "MISMATCH"), line
    return rows


def run(api: LocalDataApi, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args(api, *extra), out, err)
    return code, out.getvalue(), err.getvalue()


def test_every_check_passes_on_the_local_data_api_and_the_table_is_dropped(
    local: LocalDataApi,
) -> None:
    # When preflight runs against the local cluster with the function's default settings
    code, text, progress = run(local)

    # Then it exits 0 with one OK row per check, in order, and says the contract holds
    assert code == 0, text
    rows = report_rows(text)
    assert len(rows) == len(CHECKS), text
    assert [row["result"] for row in rows] == ["OK"] * len(CHECKS), text
    assert f"{len(CHECKS)} checks: {len(CHECKS)} OK, 0 MISMATCH" in text
    # And each shape and refusal the brief names is a row of its own
    checks = [row["check"] for row in rows]
    for expected in (
        "catalog read", "DEFAULT", "1 SQL (ExecuteStatement)", "10 SQLs (guard + 9 INSERTs)",
        "40 SQLs (guard + 39 INSERTs)", "probe (INSERT, SELECT 1 / 0)",
        *(f"refusal: {case.label}" for case in REFUSALS),
    ):  # fmt: skip
        assert expected in checks, checks
    by_check = {row["check"]: row for row in rows}
    assert by_check["probe (INSERT, SELECT 1 / 0)"]["said"].startswith("FAILED at SQL 2/2")
    # The claim: LOCK, guard, check, INSERT; a held record is refused at the check (SQL 3)
    claim = by_check["claim (LOCK, guard, check, INSERT)"]
    assert claim["said"].startswith("FAILED at SQL 3/4"), claim
    assert claim["concluded"] == "held record refused at the check; 1 row(s)"
    compared = by_check["redrive compared in full (JSON_SERIALIZE)"]
    assert compared["concluded"] == "itself found, another not found"
    assert any(c.startswith("column guard") and "FAILED at SQL 1/2" in by_check[c]["said"]
               for c in checks)  # fmt: skip
    for case in REFUSALS:
        assert by_check[f"refusal: {case.label}"]["concluded"].startswith("data: ")
    # And the sizes are the settings' own: the most parameters, a request and an INSERT just
    # within their budgets
    assert re.search(r"^32,7\d\d parameters \(max 32,767\)", text, re.MULTILINE), text
    request = re.search(r"^request ([\d,]+) bytes \(max 2,097,152\)", text, re.MULTILINE)
    assert request is not None, text
    assert 1_900_000 < int(request.group(1).replace(",", "")) <= 2_097_152
    insert = re.search(r"^INSERT ([\d,]+) bytes, SQL [\d,]+ \(max 100,000\)", text, re.MULTILINE)
    assert insert is not None, text
    assert 95_000 < int(insert.group(1).replace(",", "")) <= 100_000
    # And the scratch table is gone, nothing is left running, and the run says so
    assert re.search(rf"Scratch table public\.{TABLE_PREFIX}[0-9a-f]{{12}} dropped\.", text)
    assert scratch_tables(local) == []
    assert local.stats(CLUSTER).active == 0
    # And no value sent, nor any the service quoted back, is in what it printed
    for value in VALUES:
        assert value not in text + progress
    # And progress went to stderr, one line per check
    assert len(progress.splitlines()) == len(CHECKS)


def test_a_wrong_classification_is_a_mismatch_and_exits_1(
    local: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a classifier that knows no Redshift error
    def knows_nothing(error_text: str) -> Verdict:
        return Verdict(FailureKind.UNKNOWN, "no rule knows this text")

    monkeypatch.setattr(failure_text, "read_failure", knows_nothing)

    # When preflight runs
    code, text, _ = run(local)

    # Then every refusal is a MISMATCH that says what the function concluded, the shapes are
    # still OK, it exits 1, and the table is dropped all the same
    assert code == 1, text
    rows = {row["check"]: row for row in report_rows(text)}
    for case in REFUSALS:
        row = rows[f"refusal: {case.label}"]
        assert (row["result"], row["concluded"]) == ("MISMATCH", "unknown: no rule knows this text")
    assert [r["result"] for c, r in rows.items() if not c.startswith("refusal:")] == ["OK"] * (
        len(CHECKS) - len(REFUSALS)
    )
    assert f"{len(REFUSALS)} MISMATCH - the function's contract does not hold" in text
    assert scratch_tables(local) == []


def test_a_service_with_a_smaller_request_limit_is_a_mismatch(local: LocalDataApi) -> None:
    # Given a service that refuses requests over 1 MB (HTTP 413), and the function's default
    # REQUEST_MAX_BYTES of 2 MiB
    local.set_max_request_bytes(1_000_000)

    code, text, _ = run(local)

    # Then the largest request is refused: a MISMATCH
    assert code == 1, text
    rows = {row["check"]: row for row in report_rows(text)}
    [request] = [row for check, row in rows.items() if check.startswith("request ")]
    assert request["result"] == "MISMATCH"
    assert request["said"].startswith("refused: ")
    assert scratch_tables(local) == []


def test_request_max_bytes_overrides_the_settings_request_budget(local: LocalDataApi) -> None:
    # Given the same service, and preflight told the deployment's REQUEST_MAX_BYTES is 500,000
    local.set_max_request_bytes(1_000_000)

    code, text, _ = run(local, "--request-max-bytes", "500000", "--statement-max-parameters",
                        "20000")  # fmt: skip

    # Then the largest request fits the service, and every check passes
    assert code == 0, text
    request = re.search(r"^request ([\d,]+) bytes \(max 500,000\)", text, re.MULTILINE)
    assert request is not None, text
    assert int(request.group(1).replace(",", "")) <= 500_000
    assert re.search(r"^\d[\d,]* parameters \(max 20,000\)", text, re.MULTILINE), text


def test_the_deployments_settings_are_refused_as_the_function_refuses_them(
    local: LocalDataApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args(local, "--statement-max-bytes", "1000"))
    assert exit_info.value.code == 2
    assert "STATEMENT_MAX_BYTES must be between 8192 and 100000" in capsys.readouterr().err
    assert local.api_calls().get("ExecuteStatement", 0) == 0


def test_the_cli_refuses_an_incomplete_target(
    local: LocalDataApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--cluster-id", CLUSTER, "--database", "dev", "--endpoint-url", local.endpoint_url])
    assert exit_info.value.code == 2
    assert "a cluster needs exactly one of --db-user and --secret-arn" in capsys.readouterr().err
    assert local.api_calls().get("ExecuteStatement", 0) == 0


def test_a_target_the_service_does_not_know_creates_nothing_and_exits_2(
    local: LocalDataApi,
) -> None:
    out = io.StringIO()
    code = main(["--cluster-id", "no-such-cluster", *args(local)[2:]], out, io.StringIO())
    text = out.getvalue()
    assert code == 2, text
    assert "Stopped by an error: could not create the scratch table" in text
    assert "0 checks: 0 OK, 0 MISMATCH" in text
    assert re.search(r"Scratch table \S+ never created: the CREATE was not accepted\.", text)


def test_a_drop_that_fails_prints_the_exact_drop_to_run(local: LocalDataApi) -> None:
    # Given a session (as main runs it) that loses its permissions after two checks: every
    # submit is refused from then on, the DROP's too

    def revoke(ctx: Context) -> CheckResult:
        local.deny_access(CLUSTER)
        return CheckResult("access revoked", "-", "-", ok=True)

    checks = (*CHECKS[:2], Check("revoke", revoke))
    ctx, api, clients = prepare(parser().parse_args(args(local)))
    result = run_session(ctx, api, clients.redshift_control, checks=checks, drop_retry_seconds=0)
    out = io.StringIO()
    report(result, len(checks), out)
    text = out.getvalue()

    # Then the DROP failed, and the output says so with the statement to run
    assert result.drop_error is not None
    assert f"COULD NOT DROP the scratch table {result.table}" in text
    assert f"Run this in the target database: DROP TABLE IF EXISTS {result.table};" in text
    assert scratch_tables(local) == [result.table.split(".")[1]]
    local.allow_access(CLUSTER)
    with local.connect(CLUSTER, "dev") as conn:
        conn.execute(result.drop_sql)
    assert scratch_tables(local) == []


@pytest.fixture
def slow_cluster(local: LocalDataApi) -> LocalDataApi:
    """Statements take a second: Ctrl-C finds one in flight."""
    local.set_model(CLUSTER, replace(FAST, latency_seconds=1.0))
    return local


def test_ctrl_c_cancels_what_runs_and_drops_the_table(slow_cluster: LocalDataApi) -> None:
    # Given preflight running in its own process against the local endpoint
    # When Ctrl-C arrives once the table exists and it has started
    returncode, output = interrupt_once_table_exists(
        "preflight",
        args(slow_cluster),
        lambda: scratch_tables(slow_cluster),
        running_seconds=2.5,
        exit_timeout=90,
    )

    # Then it exits as interrupted, having cancelled its statement and dropped the table
    assert returncode == 130, output
    assert "Interrupted: the statements in flight were cancelled." in output
    assert re.search(rf"Scratch table public\.{TABLE_PREFIX}[0-9a-f]{{12}} dropped\.", output)
    assert scratch_tables(slow_cluster) == []
    assert slow_cluster.stats(CLUSTER).active == 0
