"""`python -m calibrate`: measure a target through the Data API, print settings for the template."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from calibrate.dataapi import Target
from calibrate.measure import LevelResult, Plan
from calibrate.recommend import Workload
from calibrate.report import HEADER, level_line, report
from calibrate.session import Limits, run_session
from calibrate.workload import STATEMENT_MAX_BYTES, Shape, validate_identifier

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
# The flags' defaults, declared once where they are used.
PLAN, LIMITS, WORKLOAD = Plan(), Limits(), Workload()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def add_target_arguments(where: argparse._ArgumentGroup) -> None:
    """The target flags, shared with `make preflight`."""
    where.add_argument("--cluster-id", help="provisioned cluster identifier")
    where.add_argument("--db-user", help="cluster: database user (redshift:GetClusterCredentials)")
    where.add_argument("--workgroup", help="serverless workgroup name")
    where.add_argument("--secret-arn", help="Secrets Manager secret with database credentials")
    where.add_argument("--database", required=True, help="database of the target")
    where.add_argument("--schema", default="public", help="where the scratch table goes")
    where.add_argument("--region", help="AWS region; none: the SDK's")
    where.add_argument("--endpoint-url", help="Data API endpoint (the local one: make local-api)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m calibrate",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Measure a Redshift cluster's or workgroup's statement latency and commit rate "
            "through the Data API, with INSERTs shaped like the function's, in a scratch table "
            "it creates and drops; print settings for template.yaml. docs/capacity.md, "
            "'Measure your cluster'."
        ),
    )
    add_target_arguments(p.add_argument_group("target"))
    run = p.add_argument_group("bounds")
    run.add_argument("--max-concurrency", type=_positive_int, default=PLAN.max_concurrency,
                     help="most writers")  # fmt: skip
    run.add_argument("--budget-seconds", type=_positive_float, default=LIMITS.budget_seconds,
                     help="no measurement statement is submitted after this")  # fmt: skip
    run.add_argument("--max-statements", type=_positive_int, default=LIMITS.max_statements,
                     help="most measurement submits (CREATE and DROP on top)")  # fmt: skip
    run.add_argument("--level-seconds", type=_positive_float, default=PLAN.level_seconds,
                     help="how long each writer count runs")  # fmt: skip
    run.add_argument("--batch-statements", type=_positive_int, default=PLAN.batch_statements,
                     help="INSERTs per BatchExecuteStatement transaction (2-40)")  # fmt: skip
    run.add_argument("--statement-timeout", type=_positive_float,
                     default=LIMITS.statement_timeout,
                     help="a statement running longer is cancelled: an error")  # fmt: skip
    work = p.add_argument_group("the function's workload (for the recommendation)")
    work.add_argument("--rows-per-statement", type=_positive_float,
                      default=WORKLOAD.rows_per_statement,
                      help="rows in one of the function's full INSERTs")  # fmt: skip
    work.add_argument("--record-bytes", type=_positive_int, default=WORKLOAD.record_bytes,
                      help="bytes of one SQS record in the invocation payload")  # fmt: skip
    work.add_argument("--targets-per-cluster", type=_positive_int,
                      default=WORKLOAD.targets_per_cluster,
                      help="this stack's targets on the measured cluster")  # fmt: skip
    work.add_argument("--active-quota", type=int, choices=(200, 500),
                      default=WORKLOAD.active_quota,
                      help="the template's ActiveStatementQuota")  # fmt: skip
    return p


def _client(args: argparse.Namespace) -> RedshiftDataAPIServiceClient:
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},  # throttling is retried, with backoff
        max_pool_connections=args.max_concurrency + 2,
    )
    return boto3.client(
        "redshift-data", region_name=args.region, endpoint_url=args.endpoint_url, config=config
    )


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        target = Target(
            database=validate_identifier(args.database, "--database"),
            cluster_identifier=args.cluster_id,
            db_user=args.db_user,
            workgroup_name=args.workgroup,
            secret_arn=args.secret_arn,
        )
        validate_identifier(args.schema, "--schema")
        if not 2 <= args.batch_statements <= 40:
            # One would be the 100 KB shape again; 40 is BatchExecuteStatement's limit.
            raise ValueError("--batch-statements must be 2-40")
        workload = Workload(
            rows_per_statement=args.rows_per_statement,
            statement_kb=STATEMENT_MAX_BYTES / 1000,
            record_bytes=args.record_bytes,
            targets_per_cluster=args.targets_per_cluster,
            active_quota=args.active_quota,
        )
        client = _client(args)
    except (ValueError, BotoCoreError) as exc:  # BotoCoreError: no region, unknown profile
        parser().error(str(exc))
    plan = Plan(
        max_concurrency=args.max_concurrency,
        level_seconds=args.level_seconds,
        batch_statements=args.batch_statements,
    )
    limits = Limits(
        budget_seconds=args.budget_seconds,
        max_statements=args.max_statements,
        statement_timeout=args.statement_timeout,
    )
    print(
        f"calibrate: {target.describe()}; writers {', '.join(map(str, plan.levels()))}; "
        f"at most {limits.max_statements} statements or {limits.budget_seconds:.0f} s",
        file=out,
    )
    print(HEADER, file=out, flush=True)

    def progress(shape: Shape, level: LevelResult) -> None:
        print(level_line(shape, level), file=out, flush=True)

    result = run_session(
        client,
        target=target,
        schema=args.schema,
        plan=plan,
        limits=limits,
        progress=progress,
    )
    report(result, workload, out)
    if result.interrupted:
        return EXIT_INTERRUPTED
    failed = result.error or result.drop_error or result.measurements is None
    return 1 if failed else 0
