"""One calibration: create the scratch table, measure, and always drop it (errors, Ctrl-C)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from calibrate.dataapi import Budget, DataApi, StatementError, Stopped, Target
from calibrate.measure import (
    LevelResult,
    Measurements,
    Plan,
    ShapeResult,
    analyse,
    latest_by_shape,
    measure,
)
from calibrate.workload import Shape, create_table_sql, drop_table_sql, scratch_table

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient


DROP_ATTEMPTS = 3


@dataclass(frozen=True)
class Limits:
    budget_seconds: float = 300.0  # no measurement submit after this
    max_statements: int = 1000  # measurement submits (CREATE and DROP come on top)
    statement_timeout: float = 120.0  # a statement running longer is cancelled: an error
    poll_seconds: float = 0.05  # DescribeStatement interval for one writer
    drop_retry_seconds: float = 2.0  # between tries of the DROP


@dataclass(frozen=True)
class SessionResult:
    table: str
    measurements: Measurements | None
    error: str | None  # what ended the measurement early, if anything did
    interrupted: bool  # Ctrl-C
    created: bool  # the CREATE finished
    drop_attempted: bool  # False: the CREATE was never accepted, so there is nothing to drop
    budget_spent: str  # why the budget ran out, or ""
    drop_error: str | None  # None: the scratch table is gone
    submits: int  # Data API submits (ExecuteStatement and BatchExecuteStatement)
    sql_statements: int  # the SQL strings they carried
    seconds: float  # from CREATE to DROP

    @property
    def drop_sql(self) -> str:
        return drop_table_sql(self.table) + ";"


def _drop(api: DataApi, table: str, retry_seconds: float) -> str | None:
    """DROP the table, a few tries; None when it is gone, else why not."""
    error = ""
    for attempt in range(DROP_ATTEMPTS):
        try:
            api.run([drop_table_sql(table)])
            return None
        except (StatementError, ClientError, BotoCoreError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < DROP_ATTEMPTS:
                time.sleep(retry_seconds)
        except BaseException as exc:  # a second Ctrl-C, or a bug: say what to run by hand
            return f"{type(exc).__name__}: {exc}".rstrip(": ")
    return error


def run_session(
    client: RedshiftDataAPIServiceClient,
    *,
    target: Target,
    schema: str,
    plan: Plan,
    limits: Limits,
    progress: Callable[[Shape, LevelResult], None],
) -> SessionResult:
    table = scratch_table(schema)
    statement_name = f"ingest-calibrate-{table.rsplit('_', 1)[-1]}"

    def data_api(abort: threading.Event) -> DataApi:
        return DataApi(
            client,
            target,
            statement_name=statement_name,
            statement_timeout=limits.statement_timeout,
            abort=abort,
            poll_seconds=limits.poll_seconds,
        )

    abort = threading.Event()
    api = data_api(abort)
    budget = Budget(limits.budget_seconds, limits.max_statements)
    shapes: list[ShapeResult] = []
    error: str | None = None
    interrupted = created = False
    started = time.monotonic()
    try:
        api.run([create_table_sql(table)])
        created = True
        for shape in measure(
            api, table=table, plan=plan, budget=budget, abort=abort, progress=progress
        ):
            shapes.append(shape)  # one at a time: what was measured survives an error
    except KeyboardInterrupt:
        interrupted = True
        abort.set()
    except Stopped:
        interrupted = True  # only Ctrl-C sets abort without an error of its own
    except (StatementError, ClientError, BotoCoreError) as exc:
        error = str(exc)
        abort.set()
    except Exception as exc:  # a bug of ours must not leave the table behind unreported either
        error = f"{type(exc).__name__}: {exc}"
        abort.set()
    finally:
        # The DROP runs whatever happened, with an abort flag of its own: the measurement's is
        # set by now if it stopped early. Only a CREATE the service never accepted (bad
        # credentials, no permission, no such cluster) certainly left no table.
        drop_api = data_api(threading.Event())
        drop_error = _drop(drop_api, table, limits.drop_retry_seconds) if api.submits else None
    return SessionResult(
        table=table,
        measurements=analyse(latest_by_shape(shapes)),
        error=error,
        interrupted=interrupted,
        created=created,
        drop_attempted=bool(api.submits),
        budget_spent=budget.spent,
        drop_error=drop_error,
        submits=api.submits + drop_api.submits,
        sql_statements=api.sql_statements + drop_api.sql_statements,
        seconds=time.monotonic() - started,
    )
