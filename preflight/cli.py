"""`python -m preflight`: prove the function's contract against a target before go-live."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TextIO

import boto3
import botocore
from botocore.exceptions import BotoCoreError

from calibrate.cli import add_target_arguments
from calibrate.dataapi import Target as CalibrateTarget
from calibrate.workload import validate_identifier
from ingest.config import (
    REQUEST_MAX_BYTES,
    STATEMENT_MAX_BYTES,
    STATEMENT_MAX_PARAMETERS,
    STATEMENTS_PER_TRANSACTION,
    Settings,
    Tunable,
    load_settings,
)
from ingest.ports import DataApiClient
from ingest.redshift import DataApi, require_current_sdk
from ingest.wiring import Clients, ClientTimeouts, build_runner, transaction_limits
from preflight.checks import CHECKS
from preflight.context import CheckResult, Context
from preflight.report import MISMATCH, OK, report
from preflight.session import SessionResult, run_session
from preflight.table import (
    ROLE_SETTINGS,
    TABLE_PREFIX,
    new_run_id,
    scratch_table,
)

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TARGET_NAME = "preflight"  # the target's name in the function's settings and statement names
# Never used: the function's settings require one, and preflight sends no dead letters.
NO_DEAD_LETTERS = "https://sqs.invalid/preflight-sends-no-dead-letters"
# The settings that bound what the function sends: flags named after their variables.
SETTING_FLAGS = (
    STATEMENT_MAX_BYTES,
    STATEMENT_MAX_PARAMETERS,
    STATEMENTS_PER_TRANSACTION,
    REQUEST_MAX_BYTES,
)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _flag(tunable: Tunable[int]) -> str:
    return "--" + tunable.variable.lower().replace("_", "-")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m preflight",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Run every statement shape the function sends, and provoke every refusal it must "
            "classify, against a Redshift cluster or workgroup through the Data API, in a "
            f"scratch table ({TABLE_PREFIX}<hex>) it creates and always drops; print one table "
            "and exit 1 on any MISMATCH. docs/deploy.md, 'Preflight'."
        ),
    )
    add_target_arguments(p.add_argument_group("target (as make calibrate takes it)"))
    settings = p.add_argument_group(
        "the function's settings (its environment variables; defaults: the function's)"
    )
    for tunable in SETTING_FLAGS:
        settings.add_argument(
            _flag(tunable),
            type=int,
            default=tunable.default,
            help=f"{tunable.variable} ({tunable.low:,}-{tunable.high:,})",
        )
    p.add_argument(
        "--check-seconds", type=_positive_float, default=120.0, help="each statement's deadline"
    )
    return p


def _validate_target(args: argparse.Namespace) -> None:
    """The target flags, as calibrate checks them (the function's own rules, in flag names)."""
    validate_identifier(args.database, "--database")
    CalibrateTarget(  # raises ValueError naming the flags
        database=args.database,
        cluster_identifier=args.cluster_id,
        db_user=args.db_user,
        workgroup_name=args.workgroup,
        secret_arn=args.secret_arn,
    )


def settings_for(args: argparse.Namespace, table: str, run_id: str) -> Settings:
    """The function's settings for the scratch table, read by the function's own loader (so
    they are refused exactly as a cold start would refuse them)."""
    target = {
        "name": TARGET_NAME,
        "database": args.database,
        "cluster_identifier": args.cluster_id,
        "db_user": args.db_user,
        "workgroup_name": args.workgroup,
        "secret_arn": args.secret_arn,
    }
    environ = {
        "REDSHIFT_TARGETS": json.dumps([{k: v for k, v in target.items() if v}]),
        "TARGET_TABLE": table,
        "DEAD_LETTER_QUEUE_URL": NO_DEAD_LETTERS,
        **{t.variable: str(getattr(args, t.variable.lower())) for t in SETTING_FLAGS},
        **ROLE_SETTINGS,
    }
    # Statement names of this run only: `<prefix>/preflight/...`, cancelled by prefix on Ctrl-C.
    return replace(load_settings(environ), statement_name_prefix=f"{TABLE_PREFIX}{run_id}")


def clients_for(args: argparse.Namespace, settings: Settings) -> Clients:
    """The function's clients (one attempt per call, its timeouts), at the flags' endpoint;
    RuntimeError, as at the function's cold start, when this botocore is too old for them."""
    timeouts = ClientTimeouts()

    def redshift(read_seconds: float) -> DataApiClient:
        config = timeouts.config(read_seconds)
        return boto3.client(
            "redshift-data", region_name=args.region, endpoint_url=args.endpoint_url, config=config
        )

    submit = redshift(settings.statement_wait_seconds + timeouts.submit_read_extra)
    require_current_sdk(submit)
    return Clients(
        redshift_submit=submit,
        redshift_control=redshift(timeouts.control_read),
        # Never called (preflight sends no dead letters), but part of the function's clients.
        sqs=boto3.client("sqs", region_name=args.region, config=timeouts.config(1.0)),
    )


def header_lines(ctx: Context) -> list[str]:
    settings, limits, target = ctx.settings, ctx.limits, ctx.target
    guarded = "yes" if limits.guarded else "no"
    return [
        f"preflight: {target.destination[0]}, database {target.database}; scratch table "
        f"{settings.table}",
        f"  settings: STATEMENT_MAX_BYTES={settings.statement_max_bytes} "
        f"STATEMENT_MAX_PARAMETERS={settings.statement_max_parameters} "
        f"STATEMENTS_PER_TRANSACTION={settings.statements_per_transaction} "
        f"REQUEST_MAX_BYTES={settings.request_max_bytes}",
        f"  guarded transactions: {guarded}; SDK boto3 {boto3.__version__}, "
        f"botocore {botocore.__version__}",
        "",
    ]


def prepare(args: argparse.Namespace) -> tuple[Context, DataApi, Clients]:
    """The function's settings, clients, runner and limits for the flags' target, and the
    context the checks share (ValueError or BotoCoreError for flags that cannot work)."""
    _validate_target(args)
    run_id = new_run_id()
    settings = settings_for(args, scratch_table(args.schema, run_id), run_id)
    clients = clients_for(args, settings)
    api, runner = build_runner(settings, clients)
    ctx = Context(
        runner=runner,
        target=settings.targets[0],
        settings=settings,
        limits=transaction_limits(settings),
        run_id=run_id,
        check_seconds=args.check_seconds,
    )
    return ctx, api, clients


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        ctx, api, clients = prepare(args)
    except (ValueError, RuntimeError, BotoCoreError) as exc:  # ConfigError is a ValueError
        p.error(str(exc))
    print(*header_lines(ctx), sep="\n", file=out, flush=True)

    def progress(result: CheckResult) -> None:
        print(f"  {OK if result.ok else MISMATCH:<8} {result.check}", file=err, flush=True)

    result = run_session(ctx, api, clients.redshift_control, progress=progress)
    report(result, len(CHECKS), out)
    return exit_code(result, len(CHECKS))


def exit_code(result: SessionResult, planned: int) -> int:
    """130 after Ctrl-C; 1 on any MISMATCH; 2 when the run could not finish or clean up."""
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.mismatches:
        return EXIT_MISMATCH
    if result.error or result.drop_error or len(result.results) < planned:
        return EXIT_USAGE
    return EXIT_OK
