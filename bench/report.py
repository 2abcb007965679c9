"""docs/benchmark.md: the command, the model, the figures, the goals and the assumptions."""

from __future__ import annotations

from dataclasses import dataclass

from bench.cpu import REPEATS, HandlerCpu
from bench.designs import FUNCTION_TIMEOUT_SECONDS, LEGACY_VISIBILITY_SECONDS, Kind
from bench.goals import Check, model_ceiling, rows_per_statement
from bench.runner import DesignResult

COMMAND = "make bench  # runs: PYTHONPATH=src/handler:. .venv/bin/python -m bench.run"
QUICK_COMMAND = (
    "make bench-quick  # runs: PYTHONPATH=src/handler:. .venv/bin/python -m bench.run --quick"
)


@dataclass(frozen=True)
class RunInfo:
    date: str
    seconds: float
    cores: int
    python: str
    postgres: str


def _rows(result: DesignResult) -> str:
    design = result.design
    if design.kind is Kind.LEGACY:
        return str(design.rows_per_insert)
    return f"{rows_per_statement(result):.1f}"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _result_line(result: DesignResult, old_final: float, ceiling: float) -> str:
    design = result.design
    rate = result.sustained_rows_per_second
    peak = "/".join(str(p) for p in result.peak_active)
    bound = f" (bound {design.active_bound})" if design.active_bound is not None else ""
    cells = [
        f"**{design.key}**",
        design.title,
        str(design.instances),
        f"{design.batch_size:,}",
        _rows(result),
        f"{rate:,.1f}",
        f"{rate / old_final:.1f}x" if old_final else "-",
        f"{rate / ceiling:.0%}" if ceiling else "-",
        f"{result.calls_per_thousand_rows:,.0f}",
        f"{peak}{bound}",
        f"{result.quota_errors:,}",
        _seconds(result.first_quota_error),
        f"{result.lost:,}",
        f"{result.duplicated:,}",
        f"{result.left_in_queue:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def _detail_line(result: DesignResult) -> str:
    cells = [
        f"**{result.design.key}**",
        f"{result.sent:,}",
        f"{result.elapsed:.1f} s",
        f"{result.rows_in_window:,}",
        f"{result.rows_landed:,}",
        ", ".join(f"{op} {n:,}" for op, n in sorted(result.api_calls.items())),
        f"{result.redeliveries:,}",
        f"{result.tally.invocations:,}",
        f"{result.cpu_us_per_record:,.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def render_report(
    results: list[DesignResult], cpu: HandlerCpu, checks: list[Check], info: RunInfo
) -> str:
    old_final = next(r for r in results if r.design.key == "3").sustained_rows_per_second
    model = results[0].model
    ceiling = model_ceiling(results[0], cpu)
    lines = [
        "# Benchmark: the old designs against this project, on one cluster model",
        "",
        "Five designs drive realistic AppsFlyer messages from a queue into the same simulated "
        "Redshift cluster: the three stages of the system this project replaces, and this "
        "project at two batch sizes. Every row is counted in PostgreSQL afterwards.",
        "",
        "Produced by (the whole run took "
        f"{info.seconds / 60:.1f} minutes on {info.cores} cores, {info.date}):",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        f"Python {info.python}; PostgreSQL {info.postgres}. The CI check of the same "
        "harness (invariants only, never speed) is:",
        "",
        "```bash",
        QUICK_COMMAND,
        "```",
        "",
        "## The cluster model",
        "",
        f"`local.model.RA3_LARGE`, for every design: {model.slots} query slots, "
        f"{model.statements_per_second:g} commits per second (serialized), "
        f"{model.latency_seconds:g} s added latency per statement, a quota of "
        f"{model.active_quota} active statements. Each design gets a cluster of its own.",
        "",
        f"Rows per full 100 KB statement, from `ingest.sql.render_inserts` on the same bodies: "
        f"**{cpu.rows_per_statement:.1f}** (mean statement {cpu.statement_bytes:,.0f} bytes "
        f"budgeted). Model ceiling: {model.statements_per_second:g} x "
        f"{cpu.rows_per_statement:.1f} = **{ceiling:,.0f} rows/s**.",
        "",
        "## Results",
        "",
        "| # | design | workers / max. concurrency | messages per batch | rows per INSERT "
        "| sustained rows/s | vs. old final fix | of model ceiling | Data API calls per 1,000 "
        "rows | peak active statements (quota 500) | submits refused by the quota | time to "
        "first quota error | lost | duplicated | left in queue |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    lines += [_result_line(r, old_final, ceiling) for r in results]
    lines += [
        "",
        "Design 5b runs design 5 against two targets (a provisioned cluster and a serverless "
        "workgroup, each with the model) to check the bound and the counts when a record can "
        "reach one target and come back for the other. Its peak is per target; its rows per "
        "INSERT and Data API calls count both targets' statements for each row delivered to "
        "both; lost and duplicated count both targets.",
        "",
        "![Sustained rows/s by design, and rows landed over time](benchmark-throughput.png)",
        "",
        "![Active statements over time against the 500 quota](benchmark-active-statements.png)",
        "",
        "Run details:",
        "",
        "| # | messages queued | measured for | rows in the measured window | rows in the "
        "table at the end | Data API calls | redeliveries | invocations / batches | instance "
        "CPU per record (µs, SDK included) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    lines += [_detail_line(r) for r in results]
    lines += [
        "",
        "## The handler's CPU per record",
        "",
        f"Best of {REPEATS} interleaved passes over {cpu.records:,} of the same bodies, in a "
        "fresh interpreter started after the runs (`time.process_time`; the minutes of "
        "benchmark before leave a heap whose garbage collections would be charged to the "
        "handler, which Lambda starts with a small one); the ratio varies by a few tenths from "
        "run to run:",
        "",
        "| work per record | µs |",
        "| --- | ---: |",
        f"| `ingest.records.validate` (its exact JSON decoding included) | {cpu.validate_us:.1f} |",
        f"| `ingest.sql.render_inserts` | {cpu.render_us:.1f} |",
        f"| **handler total** | **{cpu.handler_us:.1f}** |",
        f"| `json.loads` of the body alone | {cpu.json_loads_us:.1f} |",
        f"| **ratio** | **{cpu.ratio:.2f}x** |",
        "",
        "## Goals",
        "",
        "| goal | met | figure | why |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c.goal} | {'**met**' if c.met else '**missed**'} | {c.figure} | {c.why} |"
        for c in checks
    ]
    lines += ["", *_METHOD]
    return "\n".join(lines) + "\n"


_METHOD = [
    "## How it is measured",
    "",
    "- **Messages.** Bodies come from `scripts/generate_events.py`'s seeded payload builder "
    "(about 4 KB of AppsFlyer JSON each). The backlog is queued before a design starts, as in "
    "the original incident (2.8 M messages waiting).",
    "- **Queue.** An in-memory queue with standard-queue semantics: a receive hides messages "
    "for the visibility timeout; whatever is not deleted comes back, with its receive count "
    "raised. Each receive and delete costs 10 ms, as a round trip would.",
    "- **Instances.** One operating-system process per old worker or function instance, so no "
    "two share a GIL. In front of each, a poller in the benchmark's process receives a batch, "
    "invokes the instance over a pipe and deletes what succeeded.",
    "- **This project (4, 5, 5b).** Each instance builds `ingest.wiring.build_ingest` from "
    "settings that `ingest.config.load_settings` reads, with SDK clients pointed at the local "
    "services by `AWS_ENDPOINT_URL_*`. It answers as `app.lambda_handler` does: "
    "`batchItemFailures` are not deleted, and a raised batch is not deleted at all. The "
    "pollers act as the event source mapping: at most MaximumConcurrency batches at once, each "
    f"of up to the batch size within the window. Function timeout {FUNCTION_TIMEOUT_SECONDS:g} "
    "s; visibility timeout 6 x timeout + window, as the template derives it. The dead-letter "
    "queue lives on moto's server.",
    "- **The old system (1, 2, 3).** Reimplemented from its team's upgrade notes (not in this "
    "repository): each worker receives 10 messages, sends one INSERT per message (design 1, "
    "submitted in parallel like `Promise.allSettled`) or one 10-row INSERT (designs 2 and 3) "
    "with every value written into the SQL text, does not wait for the statement, and deletes "
    "the messages whose submit was accepted. Design 3 pauses 2 s after each batch.",
    "- **Sustained rows/s.** Rows committed in the first target's table are counted every 0.5 s "
    "while the design runs. The rate is taken between the moments 10% and 90% of the rows "
    "counted at the end of the measured window had landed: start-up and tail are left out. For "
    "the fire-and-forget designs this is what landed, not what was submitted.",
    "- **Measured window.** The old designs run for 25 s against a backlog they cannot finish. "
    "This project's designs run until every message is deleted and the cluster is idle. After "
    "the window, statements still queued on the cluster are let through at the FAST model's "
    "pace (no new submits), so that the loss count sees them; that time is not measured.",
    "- **Peak active statements.** The local Data API's own count of SUBMITTED, PICKED and "
    "STARTED statements per cluster, at every change. **Time to first quota error**: from "
    "the start to the first `ActiveStatementsExceededException`, sampled every 0.1 s.",
    "- **Data API calls per 1,000 rows.** Every request the local Data API received during the "
    "window (refused ones included), per 1,000 rows in the table at the end.",
    "- **Lost, duplicated.** After the run, rows are counted per `sqs_message_id`. Lost: a "
    "message the consumer deleted from the queue whose row is not in the table. Duplicated: "
    "rows beyond the first for one message. Left in queue: messages not yet deleted; they are "
    "neither lost nor delivered.",
    "",
    "## Assumptions",
    "",
    "- **What the old system did with a refused submit: retried, not lost.** Its code deleted "
    "the messages only after `insertBatchData` resolved (`await insertBatchData(dataArray); "
    "await batchDeleteMessages(receiptHandles);`), so a submit refused with "
    "`ActiveStatementsExceededException` leaves the messages in the queue, and they come back "
    "after the visibility timeout. That is what designs 1 and 2 do; the refused count and the "
    "redeliveries show the churn. Its visibility timeout is scaled from the recommended "
    f'"> 60 seconds" to {LEGACY_VISIBILITY_SECONDS:g} s so that refused messages come back '
    "inside the 25 s window.",
    "- **What fire-and-forget loses is invisible here.** Once a submit is accepted the message "
    "is deleted, so a statement that later fails (a bad value in one of its 10 rows, a "
    "cluster restart) loses its rows silently. With clean bodies and a model in which "
    "accepted statements always commit, none do, so the old designs show 0 lost. This project "
    "waits for every statement and returns or dead-letters each failed record.",
    "- **The old designs write this project's table**, including `sqs_message_id`, so rows "
    "can be counted per message. Their values are this project's validated values written as "
    "SQL literals (quotes doubled), so no old statement fails on a value this project would "
    "have converted: the old designs are given clean data, not penalized.",
    "- **The SDK's retries**: the old workers use the SDK default (standard mode, 3 attempts), "
    "which does not retry the quota error; this project's instances use the function's own "
    "client (one attempt per call, its own jittered retries).",
    "- **The local Data API and PostgreSQL** run on the same machine as the instances, two "
    "cores for everything. The instance CPU per record column (whole process: validation, "
    "rendering, the SDK, HTTP, the invocation payload) shows the function is far from "
    "CPU-bound; the last row of the goals puts it in cores.",
]
