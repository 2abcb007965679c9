"""`python -m demo.run`: events/*.json through the real handler into two local targets."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import app
from demo.report import (
    BatchOutcome,
    FinalState,
    last_outcomes,
    line,
    render_batch,
    render_final,
)
from demo.runtime import (
    FakeAws,
    Handler,
    cold_start,
    environment,
    sdk_environment,
)
from local.aws_doubles import moto_server
from local.model import FAST, SETTINGS, ClusterModel
from local.stack import LocalDataApi

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DDL = ROOT / "sql" / "create_table.sql"
EXPECTED = EVENTS / "expected-outcomes.json"
TABLE = "public.appsflyer_events"
DATABASE = "dev"
MODELS = {"fast": FAST, **SETTINGS}
MODEL_TEXT = {
    "fast": "fast: no slots, latency, commit cost or table lock; --model base for a cluster's pace",
    **{
        name: f"{name}: {m.slots} slots, {m.latency_seconds:g} s per statement, commits of "
        f"{m.commit_fixed_seconds * 1000:.0f} ms + {m.commit_seconds_per_kb * 1000:g} ms/KB"
        for name, m in SETTINGS.items()
    },
}


@dataclass(frozen=True)
class DemoTarget:
    name: str
    address: str  # the cluster or workgroup: the local Data API keeps one database per address
    kind: str
    config: dict[str, str]


TARGETS = (
    DemoTarget(
        "primary",
        "primary-cluster",
        "cluster",
        {
            "name": "primary",
            "database": DATABASE,
            "cluster_identifier": "primary-cluster",
            "db_user": "ingest",
        },
    ),
    DemoTarget(
        "secondary",
        "secondary-wg",
        "workgroup",
        {"name": "secondary", "database": DATABASE, "workgroup_name": "secondary-wg"},
    ),
)
TARGET_NAMES = tuple(target.name for target in TARGETS)

# A fault takes the stack and the handler's in-invocation retry count; it says what it did.
Fault = Callable[[LocalDataApi, int], str]


def refuse_secondary(api: LocalDataApi, retries: int) -> str:
    """More quota rejections than one invocation retries: the secondary's share comes back."""
    count = retries + 1
    api.reject_next("secondary-wg", count, "ActiveStatementsExceededException")
    return (
        f"secondary-wg refuses its next {count} submits (ActiveStatementsExceededException):\n"
        f"one more than the {retries} retries the handler makes within one invocation"
    )


@dataclass(frozen=True)
class Step:
    file: str
    title: str
    notes: tuple[str, ...] = ()
    fault: Fault | None = None


STEPS = (
    Step(
        "sqs-clean-batch.json",
        "10 good records, first delivery, while the secondary is refusing work",
        notes=(
            "every record reaches the primary and must come back for the secondary;",
            "nothing remembers that the primary holds them: on redelivery the handler asks",
        ),
        fault=refuse_secondary,
    ),
    Step("sqs-mixed-batch.json", "10 good records and one of each kind of poison"),
    Step("sqs-large-batch.json", "500 good records: several INSERTs per target"),
    Step(
        "sqs-redelivered-batch.json",
        "SQS redelivers batch 1 (ApproximateReceiveCount 2-4)",
        notes=(
            "the handler asks each target (a SELECT through the Data API) which of them it",
            "already holds: the primary holds all 10, so only the secondary is written;",
            "were SQS to deliver them yet again, both targets would be asked and say so",
        ),
    ),
)


@dataclass(frozen=True)
class DemoResult:
    batches: list[BatchOutcome]
    final: FinalState
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo.run",
        description="Replay events/*.json through the handler into a local primary and "
        "secondary (PostgreSQL behind the local Data API; moto for SQS).",
    )
    parser.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="fast",
        help="cluster model: fast (no limits but the quota; default) or a setting of local.model",
    )
    parser.add_argument(
        "--handler-log",
        type=Path,
        help="keep the handler's JSON logs and EMF metrics in this file (default: a temp file)",
    )
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    data_api: LocalDataApi | None = None,
    out: TextIO | None = None,
) -> int:
    """0 when every record is accounted for; pass `data_api` to reuse a running stack."""
    args = parse_args(argv)
    out = out or sys.stdout
    try:
        result = run(args.model, data_api=data_api, out=out, handler_log=args.handler_log)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaned up (servers stopped, temp files removed)", file=out)
        return 130
    for problem in result.problems:
        print(f"PROBLEM: {problem}", file=out)
    return 0 if result.ok else 1


def run(
    model_name: str = "fast",
    *,
    data_api: LocalDataApi | None = None,
    out: TextIO | None = None,
    handler_log: Path | None = None,
) -> DemoResult:
    """Start what is missing, replay every step, print as it goes; stop everything it started."""
    stream = out or sys.stdout

    def say(*lines: str) -> None:
        print(*lines, sep="\n", file=stream, flush=True)

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingest-demo-")))
        api = stack.enter_context(_data_api(data_api, MODELS[model_name], say))
        moto_url = stack.enter_context(moto_server())
        stack.enter_context(environment(sdk_environment(api.endpoint_url, moto_url)))
        aws = FakeAws.create()
        stack.enter_context(environment(_handler_environment(aws)))
        stack.enter_context(cold_start())
        _create_tables(api)
        handler = Handler(handler_log or workdir / "handler.log")
        say(*_header(api, model_name, moto_url, aws, handler, kept=handler_log is not None))
        return _replay_all(api, aws, handler, say)


def _replay_all(
    api: LocalDataApi, aws: FakeAws, handler: Handler, say: Callable[..., None]
) -> DemoResult:
    batches: list[BatchOutcome] = []
    for index, step in enumerate(STEPS, start=1):
        outcome = _replay(step, api, aws, handler)
        batches.append(outcome)
        say("", *render_batch(outcome, index, len(STEPS)))
    final = _final_state(api, batches)
    say("", *render_final(final))
    problems = [p for batch in batches for p in batch.problems()] + final.problems()
    return DemoResult(batches, final, problems)


@contextlib.contextmanager
def _data_api(
    running: LocalDataApi | None, model: ClusterModel, say: Callable[..., None]
) -> Iterator[LocalDataApi]:
    """The caller's stack (set to the model, left running) or our own (stopped on exit), with
    the demo's cluster and workgroup declared."""
    if running is not None:
        for target in TARGETS:
            running.set_model(target.address, model)
        _declare_targets(running)
        yield running
        return
    say("starting PostgreSQL and the local Data API ...")
    with LocalDataApi(model=model) as api:
        _declare_targets(api)
        yield api


def _declare_targets(api: LocalDataApi) -> None:
    for target in TARGETS:
        api.declare_target(target.address, target.kind, databases=(DATABASE,))


def _handler_environment(aws: FakeAws) -> dict[str, str | None]:
    return {
        "REDSHIFT_TARGETS": json.dumps([target.config for target in TARGETS]),
        "TARGET_TABLE": TABLE,
        **aws.handler_environment(),
    }


def _create_tables(api: LocalDataApi) -> None:
    """Each target starts with an empty table, created from the file deployments use."""
    for target in TARGETS:
        with api.connect(target.address, DATABASE) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        api.execute_ddl(target.address, DATABASE, DDL.read_text(encoding="utf-8"))


def _header(
    api: LocalDataApi, model_name: str, moto_url: str, aws: FakeAws, handler: Handler, kept: bool
) -> list[str]:
    targets = ", ".join(f"{t.name} = {t.kind} {t.address}/{DATABASE}" for t in TARGETS)
    keep = "kept" if kept else "removed at exit; --handler-log PATH keeps them"
    return [
        "sqs-redshift-ingest demo: events/*.json through src/handler/app.py",
        line("PostgreSQL", api.postgres_source),
        line("Data API", api.endpoint_url),
        line("cluster model", MODEL_TEXT[model_name]),
        line("SQS", f"moto on {moto_url}, DLQ {aws.dlq_url.rsplit('/', 1)[-1]}"),
        line("targets", targets),
        line("table", f"{TABLE} from {DDL.relative_to(ROOT)}, in each target"),
        line("handler output", f"{handler.log_path}"),
        line("", f"(JSON logs and EMF metrics; {keep})"),
    ]


def _load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _expected_dead_letters(name: str) -> dict[str, str]:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    return dict(expected.get(name, {}).get("dead_lettered", {}))


def _replay(step: Step, api: LocalDataApi, aws: FakeAws, handler: Handler) -> BatchOutcome:
    event = _load_event(step.file)
    records = event.get("Records", [])
    ids = list(dict.fromkeys(record["messageId"] for record in records))
    # The events hold no redrives (original_message_id): the receive count says it all.
    redelivered = {r["messageId"] for r in records if _receive_count(r) > 1}
    before = {t.name: _row_counts(api, t, ids) for t in TARGETS}
    fault = step.fault(api, app.ingest().settings.max_transient_retries) if step.fault else None
    invocation = handler.invoke(event, ids)
    after = {t.name: _row_counts(api, t, ids) for t in TARGETS}
    return BatchOutcome(
        file=step.file,
        title=step.title,
        targets=TARGET_NAMES,
        received=ids,
        invocation=invocation,
        rows_added={n: sum(after[n].values()) - sum(before[n].values()) for n in TARGET_NAMES},
        in_every_target=set.intersection(*(set(after[n]) for n in TARGET_NAMES)),
        dead_letters=aws.drain_dead_letters(),
        expected_dead_letters=_expected_dead_letters(step.file),
        redelivered=len(redelivered),
        held_before={n: len(redelivered & set(before[n])) for n in TARGET_NAMES},
        fault=fault,
        notes=step.notes,
    )


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        return 1


def _row_counts(
    api: LocalDataApi, target: DemoTarget, ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Rows per sqs_message_id in a target's table: all of them, or only those of `ids`."""
    query = f"SELECT sqs_message_id, count(*) FROM {TABLE}"
    with api.connect(target.address, DATABASE) as conn:
        if ids is None:
            rows = conn.execute(f"{query} GROUP BY 1").fetchall()
        else:
            rows = conn.execute(
                f"{query} WHERE sqs_message_id = ANY(%s) GROUP BY 1", [list(ids)]
            ).fetchall()
    return {str(message_id): int(count) for message_id, count in rows}


def _final_state(api: LocalDataApi, batches: list[BatchOutcome]) -> FinalState:
    seen = list(dict.fromkeys(mid for batch in batches for mid in batch.received))
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    return FinalState(
        targets=TARGET_NAMES,
        rows={t.name: _row_counts(api, t) for t in TARGETS},
        seen=seen,
        dead_lettered={mid for batch in batches for mid in batch.dead_lettered},
        awaiting_retry=last_outcomes(batches),
        expected_dead_letters={
            mid for outcomes in expected.values() for mid in outcomes.get("dead_lettered", {})
        },
        deliveries=sum(len(batch.received) for batch in batches),
        batches=len(batches),
        already_present={
            t: sum((batch.already_present() or {}).get(t, 0) for batch in batches)
            for t in TARGET_NAMES
        },
        dead_letters_by_file={
            batch.file: len(batch.dead_letters) for batch in batches if batch.dead_letters
        },
    )


if __name__ == "__main__":
    # `kill` (SIGTERM) unwinds like Ctrl-C, so PostgreSQL and the temp files go either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
