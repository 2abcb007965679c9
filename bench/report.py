"""docs/benchmark.md: the command, the model and its settings, the figures per design and setting,
the ceilings, the goals and the assumptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cpu import REPEATS, HandlerCpu
from bench.designs import (
    FUNCTION_TIMEOUT_SECONDS,
    LEGACY_VISIBILITY_SECONDS,
    NEW,
    OLD_FASTEST,
    OLD_FINAL_FIX,
    OLD_WINDOW_SECONDS,
    TODAY,
    TODAYS_TIMEOUT_SECONDS,
    Design,
    Setting,
)
from bench.goals import GOAL_SETTING, Check, ratio, result_of
from bench.packing import Packing
from bench.packing import report as packing_report
from bench.peers import (
    ASSUMPTIONS,
    PeerRow,
    cost_table,
    freshness_table,
    headline_table,
    price_table,
    ratios_against,
)
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


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _designs(results: list[DesignResult]) -> list[Design]:
    return list({r.design.key: r.design for r in results}.values())


def _settings(results: list[DesignResult]) -> list[Setting]:
    return list({r.setting.name: r.setting for r in results}.values())


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _times(value: float) -> str:
    return "-" if value == float("inf") else f"{value:.1f}x"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def settings_table(settings: list[Setting]) -> list[str]:
    lines = [
        "| setting | latency per statement | query slots | commit: fixed part | commit: per KB "
        "written | one writer per table | commits serialized | active-statement quota |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for setting in settings:
        m = setting.model
        lines.append(
            _row(
                [
                    f"**{setting.name}**",
                    f"{m.latency_seconds:g} s",
                    str(m.slots),
                    f"{m.commit_fixed_seconds * 1000:.1f} ms",
                    f"{m.commit_seconds_per_kb * 1000:g} ms",
                    "yes" if m.one_writer_per_table else "no",
                    "yes",
                    str(m.active_quota),
                ]
            )
        )
    return lines


def sensitivity_table(results: list[DesignResult]) -> list[str]:
    """Sustained rows/s of every design under every setting."""
    settings = _settings(results)
    lines = [
        "| # | design | INSERTs per transaction | "
        + " | ".join(f"rows/s, {s.name}" for s in settings)
        + " |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in settings) + " |",
    ]
    for design in _designs(results):
        rates = [
            _rate(result_of(results, design.key, s.name).sustained_rows_per_second)
            for s in settings
        ]
        lines.append(_row([f"**{design.key}**", design.title, design.transaction_text, *rates]))
    return lines


_RATIOS = (
    (NEW, TODAY, "this project's batched transactions against today's design"),
    (NEW, OLD_FASTEST, "against the old system's fastest, cluster-bound design"),
    (NEW, OLD_FINAL_FIX, "against the old system's final fix"),
    (TODAY, OLD_FASTEST, "today's design against the old fastest"),
    (TODAY, OLD_FINAL_FIX, "today's design against the old final fix"),
)


def ratios_table(results: list[DesignResult]) -> list[str]:
    settings = _settings(results)
    lines = [
        "| ratio of sustained rows/s | what it compares | "
        + " | ".join(s.name for s in settings)
        + " |",
        "| --- | --- | " + " | ".join("---:" for _ in settings) + " |",
    ]
    for top, bottom, what in _RATIOS:
        cells = [
            _times(
                ratio(
                    result_of(results, top, s.name).sustained_rows_per_second,
                    result_of(results, bottom, s.name).sustained_rows_per_second,
                )
            )
            for s in settings
        ]
        lines.append(_row([f"design {top} / design {bottom}", what, *cells]))
    return lines


def ceiling_table(results: list[DesignResult]) -> list[str]:
    """Per design and setting: what its commits carried, what the model lets them reach."""
    lines = [
        "| # | setting | commits in the window | rows per commit | KB per commit | commit cost "
        "| ceiling commits/s | ceiling rows/s (commits/s x rows per commit) | sustained rows/s "
        "| share of the ceiling | write lock held per commit | wait for the write lock |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        c = r.commits
        lines.append(
            _row(
                [
                    f"**{r.design.key}**",
                    r.setting.name,
                    f"{c.count:,}",
                    f"{c.rows_per_commit:,.1f}",
                    f"{c.kb_per_commit:,.1f}",
                    f"{c.commit_seconds:.3f} s",
                    f"{c.ceiling_commits_per_second:.2f}",
                    _rate(c.ceiling_rows_per_second),
                    _rate(r.sustained_rows_per_second),
                    f"{r.share_of_ceiling:.0%}",
                    f"{c.lock_hold_seconds:.3f} s",
                    f"{c.lock_wait_seconds:.2f} s",
                ]
            )
        )
    return lines


def invariants_table(results: list[DesignResult]) -> list[str]:
    lines = [
        "| # | setting | workers / max. concurrency | messages per batch | peak active statements "
        "(quota 500) | submits refused by the quota | time to first quota error | lost "
        "| duplicated | left in queue | Data API calls per 1,000 rows |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        design = r.design
        bound = f" (bound {design.active_bound})" if design.active_bound is not None else ""
        lines.append(
            _row(
                [
                    f"**{design.key}**",
                    r.setting.name,
                    str(design.instances),
                    f"{design.batch_size:,}",
                    "/".join(str(p) for p in r.peak_active) + bound,
                    f"{r.quota_errors:,}",
                    _seconds(r.first_quota_error),
                    f"{r.lost:,}",
                    f"{r.duplicated:,}",
                    f"{r.left_in_queue:,}",
                    f"{r.calls_per_thousand_rows:,.0f}",
                ]
            )
        )
    return lines


def _details_table(results: list[DesignResult]) -> list[str]:
    lines = [
        "| # | setting | messages queued | measured for | rows in the measured window | rows in "
        "the table at the end | Data API calls | redeliveries | invocations / batches | "
        "instance CPU per record (µs, SDK included) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            _row(
                [
                    f"**{r.design.key}**",
                    r.setting.name,
                    f"{r.sent:,}",
                    f"{r.elapsed:.1f} s",
                    f"{r.rows_in_window:,}",
                    f"{r.rows_landed:,}",
                    ", ".join(f"{op} {n:,}" for op, n in sorted(r.api_calls.items())),
                    f"{r.redeliveries:,}",
                    f"{r.tally.invocations:,}",
                    f"{r.cpu_us_per_record:,.0f}",
                ]
            )
        )
    return lines


@dataclass(frozen=True)
class PeerSection:
    """The comparison against the peers: its rows, every run it reads, the headline's spread."""

    rows: Sequence[PeerRow]
    results: Sequence[DesignResult]
    headline_spread: str


def _peer_section(peers: PeerSection) -> list[str]:
    return [
        "## Against what users would pick instead: throughput, freshness, cost",
        "",
        "Base setting. Sustained rows/s, rows per commit and cost per million events are the "
        "backlog drain's; freshness (SendMessage to the commit of the message's row, from the "
        "emulator's commit records) is measured under three offered loads: a steady trickle "
        "(5 msg/s for 40 s), the seed's peak (400 msg/s for 10 s) and the backlog drain "
        "(every message queued at the start). `> N s`: part of the load had not committed when "
        "the run ended N s after its start (the design fell behind).",
        "",
        *headline_table(peers.rows),
        "",
        f"Design {NEW} against every other design (above 1x: design {NEW} is ahead; rows/s and "
        "rows per commit: ours / theirs; freshness and cost: theirs / ours):",
        "",
        *ratios_against(peers.rows),
        "",
        f"Repeated runs of the headline design ({NEW}, base, backlog), alone, one after another "
        f"in the same `make bench`: {peers.headline_spread}.",
        "",
        "![Freshness at three loads and cost per million events, base setting]"
        "(benchmark-peers.png)",
        "",
        "Freshness per design and load (p50, p95, p99, max over every message sent; a message "
        "not committed within the window counts as infinitely stale):",
        "",
        *freshness_table(peers.results),
        "",
        "Cost per million events, per service (USD, us-east-1):",
        "",
        *cost_table(peers.rows),
        "",
        "The prices (`bench/prices.py`, the one file to update):",
        "",
        *price_table(),
        "",
        "How the peers are modelled, and what the figures count:",
        "",
        *(f"- {line}" for line in ASSUMPTIONS),
        "",
    ]


def _packing_section(packing: Sequence[Packing]) -> list[str]:
    if not packing:
        return []
    return [
        "## What the request budget costs in rows per commit",
        "",
        "No public source gives the Data API's limit on a whole `BatchExecuteStatement` "
        "request, so the function budgets each request's JSON against `REQUEST_MAX_BYTES` "
        "(default 2 MiB) and halves it for a target after a size refusal. The function's own "
        "renderer on the benchmark's bodies (`python -m bench.packing`), 100 KB INSERTs, with "
        "the column guard (one of the 40 SQLs) and without any budget for comparison:",
        "",
        "```",
        packing_report(packing),
        "```",
        "",
    ]


def render_report(
    results: list[DesignResult],
    cpu: HandlerCpu,
    checks: list[Check],
    info: RunInfo,
    packing: Sequence[Packing] = (),
    peers: PeerSection | None = None,
) -> str:
    settings = _settings(results)
    new = result_of(results, NEW, GOAL_SETTING)
    lines = [
        "# Benchmark: the old designs, the peers and this project, under three cluster models",
        "",
        f"{len(_designs(results))} designs drive realistic AppsFlyer messages from a queue into "
        "simulated Redshift clusters: the three stages of the system this project replaces, "
        "this project as it was before issue 12 (one INSERT per transaction), this project "
        "packing a batch's INSERTs into transactions (`STATEMENTS_PER_TRANSACTION`, default 40), "
        "and what a user would pick instead: Amazon Data Firehose behind an SQS forwarder (F) "
        "and EventBridge Pipes with a Redshift Data API target (P). Every design runs "
        f"under each of the {len(settings)} settings of the cluster model below, which differ "
        "only in what a commit costs per KB written. Every row is counted in PostgreSQL "
        "afterwards.",
        "",
        f"Produced by (the whole run took {info.seconds / 60:.1f} minutes on {info.cores} cores, "
        f"{info.date}):",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        f"Python {info.python}; PostgreSQL {info.postgres}. The CI check of the same harness "
        "(this project's designs, small, under the base setting only; invariants only, never "
        "speed) is:",
        "",
        "```bash",
        QUICK_COMMAND,
        "```",
        "",
        *(_peer_section(peers) if peers is not None else []),
        "## The cluster model",
        "",
        "`local.model.ClusterModel`, whose docstring is the reference. A statement waits for a "
        "query slot, spends the latency, runs on PostgreSQL, takes the write lock of the table "
        "it writes at its first write and keeps it until its commit has ended, and commits when "
        "the cluster's commit turn comes (one commit at a time), paying the fixed part plus the "
        "part per KB written (KB = 1,000 bytes of every SQL's text plus its parameter values; a "
        "BatchExecuteStatement transaction commits once for all its SQLs). The settings "
        "(`local.model.SETTINGS`):",
        "",
        *settings_table(settings),
        "",
        *_assumptions(settings, result_of(results, TODAY, GOAL_SETTING)),
        "",
        "## Sensitivity: rows/s of every design under every setting",
        "",
        "Sustained rows/s landed in the table (first target), each design under each setting "
        "on clusters of its own (side by side or one after another: see *How it is "
        "measured*):",
        "",
        *sensitivity_table(results),
        "",
        *_unbatched_note(results),
        "Ratios, side by side, from the same run:",
        "",
        *ratios_table(results),
        "",
        "![Sustained rows/s by design and setting, and rows landed over time under base]"
        "(benchmark-throughput.png)",
        "",
        "## Rows per commit and the model's ceiling",
        "",
        "Read from the emulator's record of each commit into the table (`ClusterStats.commits`: "
        "rows its INSERTs reported, bytes, the cost charged), not from what the function says. "
        "The ceiling is what the model allows this design's transactions if the cluster did "
        "nothing but commit them back to back: commits/s = 1 / mean commit cost, times rows "
        "per commit. The write lock column is the time from a transaction's first write to the "
        "end of its commit (for an append, from after PostgreSQL ran it); the next writer of the "
        "table waits that long. Under low, a commit is cheap and the ceiling high: what the "
        "designs reach there is bound by this machine (two cores for the instances, the local "
        "Data API and PostgreSQL) or by latency x concurrency, not by the model's commits.",
        "",
        *ceiling_table(results),
        "",
        "## Invariants, per design and setting",
        "",
        *invariants_table(results),
        "",
        "The old fire-and-forget designs (1, 2) fill the quota within 2 s. Their active count "
        "then drifts down: they have received the whole backlog, and what the quota refused "
        f"stays invisible for the {LEGACY_VISIBILITY_SECONDS:g} s visibility timeout; hundreds "
        "of their statements stay queued on the cluster to the end of the window, so the "
        "cluster never runs out of work.",
        "",
        "Design 6b runs design 6 against two targets (a provisioned cluster and a serverless "
        "workgroup, each with the setting's model) to check the bound and the counts when a "
        "record can reach one target and come back for the other. Its peak is per target; its "
        "Data API calls count both targets' statements for each row delivered to both; lost "
        "and duplicated count both targets.",
        "",
        "![Active statements over time against the 500 quota, base setting]"
        "(benchmark-active-statements.png)",
        "",
        "Run details:",
        "",
        *_details_table(results),
        "",
        *_packing_section(packing),
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
        "| `ingest.records.decode` + `RowReader.read` for the example table (exact JSON "
        f"decoding included) | {cpu.validate_us:.1f} |",
        f"| `InsertRenderer.render` (INSERTs grouped into transactions) | {cpu.render_us:.1f} |",
        f"| **handler total** | **{cpu.handler_us:.1f}** |",
        f"| `json.loads` of the body alone | {cpu.json_loads_us:.1f} |",
        f"| **ratio** | **{cpu.ratio:.2f}x** |",
        "",
        "Rows per full 100 KB INSERT from `InsertRenderer.render` on the same bodies (57.4 "
        "before issue 12, the renderer of commit 033464d): "
        f"{cpu.rows_per_statement:.1f} (mean statement {cpu.statement_bytes:,.0f} bytes "
        f"budgeted). Design {NEW} committed {new.commits.rows_per_commit:,.1f} rows per "
        "transaction under base.",
        "",
        f"## Goals (issue 12's targets, under the {GOAL_SETTING} setting)",
        "",
        "| goal | met | figure | why |",
        "| --- | --- | --- | --- |",
    ]
    lines += [_row([c.goal, _met(c.met), c.figure, c.why]) for c in checks]
    lines += ["", *_method(_designs(results))]
    return "\n".join(lines) + "\n"


def _unbatched_note(results: list[DesignResult]) -> list[str]:
    """Say so when design 6 carried no more rows per commit than design 5: then the function
    measured does not pack INSERTs into transactions, whatever its environment says."""
    new, today = (result_of(results, key, GOAL_SETTING).commits for key in (NEW, TODAY))
    if new.rows_per_commit > 1.01 * today.rows_per_commit:
        return []
    return [
        f"**Design {NEW} committed no more rows per transaction than design {TODAY} "
        f"({new.rows_per_commit:,.1f} against {today.rows_per_commit:,.1f}, from the emulator's "
        "records): the function this run measured sends one INSERT per transaction whatever "
        "`STATEMENTS_PER_TRANSACTION` says, so designs 6 and 6b repeat design 5.**",
        "",
    ]


def _met(met: bool | None) -> str:
    if met is None:
        return "reported"
    return "**met**" if met else "**missed**"


def _assumptions(settings: list[Setting], today: DesignResult) -> list[str]:
    per_kb = ", ".join(f"{s.model.commit_seconds_per_kb * 1000:g}" for s in settings)
    full = ", ".join(f"{s.model.commit_seconds(100_000) * 1000:.0f}" for s in settings)
    kb_per_row = today.commits.kb_per_commit / today.commits.rows_per_commit
    thousand = ", ".join(
        f"{s.model.commit_seconds(1000 * kb_per_row * 1000):.2f}" for s in settings
    )
    names = ", ".join(s.name for s in settings)
    return [
        *_ASSUMPTIONS,
        f"- **Commit, per KB written: {per_kb} ms ({names}).** Nobody has measured it; the "
        f"settings bracket it. A 100 KB INSERT then costs {full} ms to commit, and a "
        f"1,000-row transaction of today's statements ({kb_per_row:.2f} KB per row, as design "
        f"{TODAY} wrote them) {thousand} s. The KB are the statement as sent: parameter names, "
        "NULL tokens and casts count as much as values.",
        *_ASSUMPTIONS_AFTER,
    ]


_ASSUMPTIONS = [
    "Assumptions (none measured on a cluster by this project; measuring a real cluster, issue "
    "12 item 4, would replace them):",
    "",
    "- **Latency, 1.5 s.** The old team saw 1-3 s per query end to end on an ra3.large. A "
    "cluster that commits 10-15 small INSERTs/s cannot spend 1-3 s of serialized work on each, "
    "so most of that time overlaps between statements: it is modelled as latency paid in a "
    "query slot before the statement runs, once per Data API statement (a "
    "BatchExecuteStatement's SQLs share it). Queueing for a slot, for the table and for the "
    "commit comes on top.",
    "- **Commit, 1/12 s fixed.** Their 10-15 small INSERTs/s is read as the commit rate of "
    "statements of a few KB: 12/s. Commits are serialized per cluster.",
]

_ASSUMPTIONS_AFTER = [
    "- **One writer per table.** A transaction holds its table's write lock until the end of "
    "its commit (Redshift's serializable isolation); read-only statements take no lock and "
    "have no commit to queue for.",
    "- **Modelled time, not this machine's.** A transaction that only appends (INSERT ... "
    "VALUES, COPY from a file, reads: every design here) runs on the local PostgreSQL before it "
    "asks for its table's write lock, since its result cannot depend on another writer's; the "
    "lock is then held only for the model's commit turn and cost, so this machine's speed (two "
    "cores shared with other work) no longer leaks into the cluster-bound figures (issue 20). "
    "A transaction that reads what it writes (UPDATE, DELETE, MERGE) still takes the lock at "
    "its first write.",
    "- **What the model leaves out**: the local PostgreSQL's execution still sits on each "
    "statement's own path (after its latency, outside every lock); no vacuum, no concurrency "
    "scaling, no WLM queues beyond the slot count.",
]


def _alone(designs: list[Design]) -> str:
    parts = [
        f"design {d.key} under {', '.join(d.settings_alone)}" for d in designs if d.settings_alone
    ]
    return "; ".join(parts) if parts else "none"


def _method(designs: list[Design]) -> list[str]:
    return [
        "## How it is measured",
        "",
        "- **Settings side by side.** A design runs under its settings at the same time, each "
        "on clusters, a queue, instance processes and a dead-letter queue of its own, except "
        "where running it alone matters: the write lock is held while the local PostgreSQL "
        "executes, so a run that keeps the machine's two cores busy would slow the others' "
        f"commits. Run alone, one after another: {_alone(designs)} (the old designs' 20 "
        "workers resubmit what the quota refuses all the time; 1,000-row transactions under "
        "low commit as fast as this machine executes them). A check made once while building "
        "this: design 5 under base ran 329 rows/s side by side and 332 alone.",
        *_METHOD,
    ]


_METHOD = [
    "- **Messages.** Bodies come from `scripts/generate_events.py`'s seeded payload builder "
    "(about 4 KB of AppsFlyer JSON each). The backlog is queued before a design starts, as in "
    "the original incident (2.8 M messages waiting).",
    "- **Queue.** An in-memory queue with standard-queue semantics: a receive hides messages "
    "for the visibility timeout; whatever is not deleted comes back, with its receive count "
    "raised. Each receive and delete costs 10 ms, as a round trip would.",
    "- **Instances.** One operating-system process per old worker or function instance, so no "
    "two share a GIL. In front of each, a poller in the benchmark's process receives a batch, "
    "invokes the instance over a pipe and deletes what succeeded.",
    f"- **This project (4, {TODAY}, {NEW}, 6b).** Each instance builds "
    "`ingest.wiring.build_ingest` from settings that `ingest.config.load_settings` reads from "
    "the design's environment (`STATEMENTS_PER_TRANSACTION=1` for designs 4 and 5, unset for "
    "6 and 6b), with SDK clients pointed at the local services by `AWS_ENDPOINT_URL_*`. It "
    "answers as `app.lambda_handler` does: `batchItemFailures` are not deleted, and a raised "
    "batch is not deleted at all. The pollers act as the event source mapping: at most "
    "MaximumConcurrency batches at once, each of up to the batch size within the window. "
    f"Function timeout {FUNCTION_TIMEOUT_SECONDS:g} s (the template's default; "
    f"{TODAYS_TIMEOUT_SECONDS:g} s for designs 4 and 5, the default they had); visibility "
    "timeout 6 x timeout + window, as the template derives it. The dead-letter queue lives on "
    "moto's server.",
    "- **The old system (1, 2, 3).** Reimplemented from its team's upgrade notes (not in this "
    "repository): each worker receives 10 messages, sends one INSERT per message (design 1, "
    "submitted in parallel like `Promise.allSettled`) or one 10-row INSERT (designs 2 and 3) "
    "with every value written into the SQL text, does not wait for the statement, and deletes "
    "the messages whose submit was accepted. Design 3 pauses 2 s after each batch.",
    "- **Sustained rows/s.** Rows committed in the first target's table are counted every 0.5 s "
    "while the design runs. The rate is taken between the moments 10% and 90% of the rows "
    "counted at the end of the measured window had landed: start-up and tail are left out. For "
    "the fire-and-forget designs this is what landed, not what was submitted.",
    f"- **Measured window.** The old designs run for {OLD_WINDOW_SECONDS:g} s against a "
    "backlog they cannot finish "
    "(they reach the quota, or their pause's pace, within 3 s). This project's designs run "
    "until every message is deleted and the cluster is idle. After the window, statements "
    "still queued on the cluster are let through at the FAST model's pace (no new submits), "
    "so that the loss count sees them; that time is not measured, nor are those commits "
    "counted in the ceiling table.",
    "- **Peak active statements.** The local Data API's own count of SUBMITTED, PICKED and "
    "STARTED statements per cluster, at every change. **Time to first quota error**: from "
    "the start to the first `ActiveStatementsExceededException`, sampled every 0.1 s.",
    "- **Data API calls.** Every request a design's instances sent (each SDK attempt, refused "
    "ones included), counted by the SDK's events in each instance, per 1,000 rows in the table "
    "at the end.",
    "- **Lost, duplicated.** After the run, rows are counted per `sqs_message_id`. Lost: a "
    "message the consumer deleted from the queue whose row is not in the table. Duplicated: "
    "rows beyond the first for one message. Left in queue: messages not yet deleted; they are "
    "neither lost nor delivered.",
    "",
    "## Assumptions about the old system",
    "",
    "- **What the old system did with a refused submit: retried, not lost.** Its code deleted "
    "the messages only after `insertBatchData` resolved (`await insertBatchData(dataArray); "
    "await batchDeleteMessages(receiptHandles);`), so a submit refused with "
    "`ActiveStatementsExceededException` leaves the messages in the queue, and they come back "
    "after the visibility timeout. That is what designs 1 and 2 do; the refused count and the "
    "redeliveries show the churn. Its visibility timeout is scaled from the recommended "
    f'"> 60 seconds" to {LEGACY_VISIBILITY_SECONDS:g} s so that refused messages come back '
    "inside the window.",
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
    "CPU-bound; the goals put it in cores.",
]
