"""`python -m demo.run`: events/*.json through the real handler into two local targets."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from psycopg import sql as psycopg_sql

import app
from demo.report import (
    BatchOutcome,
    FinalState,
    PlacementSeen,
    labelled,
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
from demo.streams import (
    MESSAGE_ID_COLUMN,
    ROOT,
    STREAMS,
    TABLE_SETTINGS,
    Placement,
    Step,
    Stream,
)
from local.aws_doubles import moto_server
from local.model import FAST, SETTINGS, ClusterModel
from local.stack import LocalDataApi

EVENTS = ROOT / "events"
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
# Past SCHEMA_REFRESH_SECONDS by this much before the batch after a table change.
REFRESH_MARGIN_SECONDS = 0.2


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


@dataclass(frozen=True)
class DemoResult:
    batches: list[BatchOutcome]
    finals: dict[str, FinalState]  # per table
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
    if result.ok:
        tables = " and ".join(result.finals)
        print(f"\nOK: every record of {tables} accounted for (exit status 0)", file=out)
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
        handler = Handler(handler_log or workdir / "handler.log")
        say(*_header(api, model_name, moto_url, aws, handler, kept=handler_log is not None))
        return _replay_all(api, aws, handler, say)


def _replay_all(
    api: LocalDataApi, aws: FakeAws, handler: Handler, say: Callable[..., None]
) -> DemoResult:
    batches: list[BatchOutcome] = []
    finals: dict[str, FinalState] = {}
    total = sum(len(stream.steps) for stream in STREAMS)
    for number, stream in enumerate(STREAMS, start=1):
        # Each stream is a function deployed with other settings: a new cold start.
        with environment(_handler_environment(aws, stream)), cold_start():
            _create_table(api, stream)
            say("", *_stream_header(stream, number))
            stream_batches: list[BatchOutcome] = []
            for step in stream.steps:
                outcome = _replay(stream, step, api, aws, handler)
                stream_batches.append(outcome)
                say("", *render_batch(outcome, len(batches) + len(stream_batches), total))
            batches.extend(stream_batches)
            finals[stream.table] = _final_state(api, stream, stream_batches)
            say("", *render_final(finals[stream.table]))
    problems = [p for batch in batches for p in batch.problems()]
    problems += [p for final in finals.values() for p in final.problems()]
    return DemoResult(batches, finals, problems)


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


def _handler_environment(aws: FakeAws, stream: Stream) -> dict[str, str | None]:
    settings = {name: stream.setting(name) for name in TABLE_SETTINGS}
    return {
        "REDSHIFT_TARGETS": json.dumps([target.config for target in TARGETS]),
        **settings,
        **aws.handler_environment(),
    }


def _create_table(api: LocalDataApi, stream: Stream) -> None:
    """Each target starts with an empty table, created from the file deployments use."""
    for target in TARGETS:
        with api.connect(target.address, DATABASE) as conn:
            conn.execute(
                psycopg_sql.SQL("DROP TABLE IF EXISTS {}").format(
                    psycopg_sql.Identifier(*stream.table.split("."))
                )
            )
        api.execute_ddl(target.address, DATABASE, stream.ddl.read_text(encoding="utf-8"))


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
        line("handler output", f"{handler.log_path}"),
        line("", f"(JSON logs and EMF metrics; {keep})"),
        line("streams", f"{len(STREAMS)} tables, one handler: only its settings differ"),
    ]


def _stream_header(stream: Stream, number: int) -> list[str]:
    settings = [f"{s.name}={s.value}  ({s.why})" for s in stream.settings]
    return [
        f"== stream {number}/{len(STREAMS)}: {stream.title} ==",
        line("table", f"{stream.table} from {stream.ddl.relative_to(ROOT)}, in each target"),
        *labelled("settings", settings),
        line("cold start", "a new handler instance reads the table from each target's catalog"),
    ]


def _load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def _expectations(stream: Stream) -> dict[str, dict[str, Any]]:
    """Event file -> its expected outcomes, from every expectations file of the stream."""
    merged: dict[str, dict[str, Any]] = {}
    for path in stream.expected:
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def _expected_source(stream: Stream, file: str) -> str:
    for path in stream.expected:
        if file in json.loads(path.read_text(encoding="utf-8")):
            return path.name
    return "no expectations file"


def _replay(
    stream: Stream, step: Step, api: LocalDataApi, aws: FakeAws, handler: Handler
) -> BatchOutcome:
    event = _load_event(step.file)
    records = event.get("Records", [])
    ids = list(dict.fromkeys(record["messageId"] for record in records))
    # The events hold no redrives (original_message_id): the receive count says it all.
    redelivered = {r["messageId"] for r in records if _receive_count(r) > 1}
    change = _change_table(api, stream, step.table_change) if step.table_change else None
    before = {t.name: _row_counts(api, stream.table, t, ids) for t in TARGETS}
    fault = step.fault(api, app.ingest().settings.max_transient_retries) if step.fault else None
    invocation = handler.invoke(event, ids)
    after = {t.name: _row_counts(api, stream.table, t, ids) for t in TARGETS}
    expectations = _expectations(stream)
    return BatchOutcome(
        file=step.file,
        title=step.title,
        targets=TARGET_NAMES,
        received=ids,
        invocation=invocation,
        rows_added={n: sum(after[n].values()) - sum(before[n].values()) for n in TARGET_NAMES},
        in_every_target=set.intersection(*(set(after[n]) for n in TARGET_NAMES)),
        dead_letters=aws.drain_dead_letters(),
        expected_dead_letters=dict(expectations.get(step.file, {}).get("dead_lettered", {})),
        redelivered=len(redelivered),
        held_before={n: len(redelivered & set(before[n])) for n in TARGET_NAMES},
        fault=fault,
        notes=step.notes,
        expected_source=_expected_source(stream, step.file),
        table_change=change,
        placements=tuple(
            _placement(api, stream, placement, placement.records_of or step.file, expectations)
            for placement in step.placements
        ),
    )


def _change_table(api: LocalDataApi, stream: Stream, ddl: str) -> str:
    """Run `ddl` on every target, then wait until the handler's copy of the table is stale."""
    for target in TARGETS:
        api.execute_ddl(target.address, DATABASE, ddl)
    setting = stream.setting("SCHEMA_REFRESH_SECONDS")
    if setting is None:  # the default is 300 s: the demo would sit there for five minutes
        raise ValueError(f"stream {stream.table} changes its table: set SCHEMA_REFRESH_SECONDS")
    refresh = int(setting)
    wait = refresh + REFRESH_MARGIN_SECONDS
    time.sleep(wait)
    return (
        f"{ddl}\n"
        f"on {' and '.join(TARGET_NAMES)}, then {wait:.1f} s of waiting "
        f"(SCHEMA_REFRESH_SECONDS={refresh})"
    )


def _placement(
    api: LocalDataApi,
    stream: Stream,
    placement: Placement,
    file: str,
    expectations: dict[str, dict[str, Any]],
) -> PlacementSeen:
    """Each good record of `file` carrying the field: is its value at the placement, in every
    target, and (when asked) not also where it must not be?"""
    refused = set(expectations.get(file, {}).get("dead_lettered", {}))
    sent: dict[str, Any] = {}
    for record in _load_event(file).get("Records", []):
        if record["messageId"] in refused:
            continue
        found, value = _follow(json.loads(record["body"]), placement.field.split("."))
        if found:
            sent[record["messageId"]] = value
    wrong: dict[str, list[str]] = {}
    for target in TARGETS:
        held = _values_at(api, stream.table, target, placement.place, list(sent))
        also = (
            _values_at(api, stream.table, target, placement.absent_from, list(sent))
            if placement.absent_from
            else {}
        )
        wrong[target.name] = sorted(
            mid
            for mid, value in sent.items()
            if held.get(mid, _MISSING) != value or also.get(mid, _MISSING) is not _MISSING
        )
    return PlacementSeen(
        field=placement.field,
        place=placement.place,
        why=placement.why,
        records_of=placement.records_of,
        records=len(sent),
        wrong=wrong,
    )


_MISSING = object()  # a NULL column, a SUPER without the key, or no row at all


def _follow(payload: Any, path: Sequence[str]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(payload, dict) or key not in payload:
            return False, None
        payload = payload[key]
    return True, payload


def _values_at(
    api: LocalDataApi, table: str, target: DemoTarget, place: str, ids: Sequence[str]
) -> dict[str, Any]:
    """Message id -> the value at `place` (a column, or column.key of a SUPER column), for
    the rows of `ids` that hold one."""
    column, _, key = place.partition(".")
    query = psycopg_sql.SQL("SELECT {}, {} FROM {} WHERE {} = ANY(%s)").format(
        psycopg_sql.Identifier(MESSAGE_ID_COLUMN),
        psycopg_sql.Identifier(column),
        psycopg_sql.Identifier(*table.split(".")),
        psycopg_sql.Identifier(MESSAGE_ID_COLUMN),
    )
    with api.connect(target.address, DATABASE) as conn:
        rows = conn.execute(query, [list(ids)]).fetchall()
    values: dict[str, Any] = {}
    for message_id, value in rows:
        if key:
            if isinstance(value, dict) and key in value:
                values[str(message_id)] = value[key]
        elif value is not None:
            values[str(message_id)] = value
    return values


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        return 1


def _row_counts(
    api: LocalDataApi, table: str, target: DemoTarget, ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Rows per message id in a target's table: all of them, or only those of `ids`."""
    query = psycopg_sql.SQL("SELECT {}, count(*) FROM {}").format(
        psycopg_sql.Identifier(MESSAGE_ID_COLUMN), psycopg_sql.Identifier(*table.split("."))
    )
    where = psycopg_sql.SQL(" WHERE {} = ANY(%s)").format(psycopg_sql.Identifier(MESSAGE_ID_COLUMN))
    group = psycopg_sql.SQL(" GROUP BY 1")
    with api.connect(target.address, DATABASE) as conn:
        if ids is None:
            rows = conn.execute(query + group).fetchall()
        else:
            rows = conn.execute(query + where + group, [list(ids)]).fetchall()
    return {str(message_id): int(count) for message_id, count in rows}


def _final_state(api: LocalDataApi, stream: Stream, batches: list[BatchOutcome]) -> FinalState:
    seen = list(dict.fromkeys(mid for batch in batches for mid in batch.received))
    expected = _expectations(stream)
    return FinalState(
        table=stream.table,
        targets=TARGET_NAMES,
        rows={t.name: _row_counts(api, stream.table, t) for t in TARGETS},
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
