"""One preflight: create the scratch table, run every check, and always drop the table
(after an error, and after Ctrl-C: what is in flight is cancelled first)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ingest.deadline import Deadlines
from ingest.ports import DataApiClient, StatementListStatus
from ingest.redshift import DataApi, DataApiError, StatementUnconfirmed
from ingest.statement_runner import GaveUp, Refused, Run
from preflight.checks import CHECKS, run_check
from preflight.context import Check, CheckResult, Context, finished, said
from preflight.table import create_table_sql, drop_table_sql

DROP_ATTEMPTS = 3
_ACTIVE: tuple[StatementListStatus, ...] = ("SUBMITTED", "PICKED", "STARTED")


@dataclass(frozen=True)
class SessionResult:
    table: str
    results: tuple[CheckResult, ...]
    error: str | None  # what stopped the run before its checks ended (the CREATE, a bug)
    interrupted: bool  # Ctrl-C
    drop_attempted: bool  # False: nothing was accepted, so there is no table to drop
    drop_error: str | None  # None: the scratch table is gone
    statements: int  # submitted: CREATE, the checks' statements and reads, DROP
    seconds: float

    @property
    def drop_sql(self) -> str:
        return drop_table_sql(self.table) + ";"

    @property
    def mismatches(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.ok)


def run_session(
    ctx: Context,
    api: DataApi,
    control: DataApiClient,
    *,
    checks: tuple[Check, ...] = CHECKS,
    progress: Callable[[CheckResult], None] = lambda result: None,
    drop_retry_seconds: float = 2.0,
) -> SessionResult:
    table = ctx.settings.table
    results: list[CheckResult] = []
    error: str | None = None
    interrupted = False
    attempted = False
    started = time.monotonic()
    try:
        created = ctx.run(create_table_sql(table))
        attempted = not never_ran(created)
        if not finished(created):
            error = f"could not create the scratch table: {said(created, 1)}"
        else:
            for check in checks:
                result = run_check(ctx, check)
                results.append(result)
                progress(result)
                if ctx.layout is None:  # the catalog check failed: nothing else can run
                    break
    except KeyboardInterrupt:
        interrupted = attempted = True
        _cancel_in_flight(ctx, api, control)
    except Exception as exc:  # a bug of ours must not leave the table behind unreported
        error = f"{type(exc).__name__}: {exc}"
        attempted = True
    finally:
        drop_error = _drop(ctx, drop_retry_seconds) if attempted else None
    return SessionResult(
        table=table,
        results=tuple(results),
        error=error,
        interrupted=interrupted,
        drop_attempted=attempted,
        drop_error=drop_error,
        statements=ctx.statements,
        seconds=time.monotonic() - started,
    )


def never_ran(run: Run) -> bool:
    """The service refused the submit itself (unknown cluster, no access): nothing exists."""
    result = run.result
    if isinstance(result, Refused):
        return True
    return (
        isinstance(result, GaveUp) and run.stats.submitted == 0 and result.unconfirmed_name is None
    )


def _cancel_in_flight(ctx: Context, api: DataApi, control: DataApiClient) -> None:
    """Cancel this run's statements still active (its statement names share one prefix), so
    that the DROP does not wait on their locks."""
    prefix = f"{ctx.settings.statement_name_prefix}/"
    deadlines: Deadlines = ctx.deadlines()
    with contextlib.suppress(ClientError, BotoCoreError, DataApiError, KeyboardInterrupt):
        for status in _ACTIVE:
            listed = control.list_statements(StatementName=prefix, Status=status, MaxResults=100)
            for statement in listed["Statements"]:
                with contextlib.suppress(StatementUnconfirmed):
                    api.cancel(statement["Id"], deadlines)


def _drop(ctx: Context, retry_seconds: float) -> str | None:
    """DROP the table, a few tries; None when it is gone, else why not."""
    error = ""
    for attempt in range(DROP_ATTEMPTS):
        try:
            run = ctx.run(drop_table_sql(ctx.settings.table))
        except BaseException as exc:  # a second Ctrl-C, or a bug: say what to run by hand
            return f"{type(exc).__name__}: {exc}".rstrip(": ")
        if finished(run):
            return None
        error = said(run, 1)
        if attempt + 1 < DROP_ATTEMPTS:
            time.sleep(retry_seconds)
    return error
