"""The comparison users ask for first: every design beside Firehose and Pipes, with rows/s,
rows per commit, freshness at three offered loads and cost per million, and the ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost import FunctionSize, cost_per_million
from bench.designs import BACKLOG, FIREHOSE, LOADS, NEW, PEERS, STEADY_TAIL_SECONDS
from bench.freshness import Freshness
from bench.prices import ALL as PRICES
from bench.runner import DesignResult

GOAL = "base"


@dataclass(frozen=True)
class PeerRow:
    key: str
    title: str
    rows_per_second: float  # backlog drain, base setting
    rows_per_commit: float
    freshness: dict[str, Freshness]  # per load name
    windows: dict[str, float]  # per load name: how long its run measured
    cost_lines: dict[str, float]  # USD per million events
    duplicated: int  # rows beyond each message's first, every run of the design

    @property
    def cost_per_million(self) -> float:
        return sum(self.cost_lines.values())


def peer_rows(results: Sequence[DesignResult], size: FunctionSize) -> list[PeerRow]:
    rows = []
    keys = list(dict.fromkeys(r.design.key for r in results if r.design.compared))
    for key in keys:
        mine = [r for r in results if r.design.key == key and r.setting.name == GOAL]
        backlog = next(r for r in mine if r.load is BACKLOG)
        rows.append(
            PeerRow(
                key=key,
                title=backlog.design.title,
                rows_per_second=backlog.sustained_rows_per_second,
                rows_per_commit=backlog.commits.rows_per_commit,
                freshness={r.load.name: r.freshness for r in mine},
                windows={r.load.name: r.elapsed for r in mine},
                cost_lines=cost_per_million(backlog, size).lines,
                duplicated=sum(r.duplicated for r in results if r.design.key == key),
            )
        )
    return rows


def _age(seconds: float, window: float) -> str:
    if math.isinf(seconds):
        return f"> {window:.0f} s"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:,.0f} s"


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ratio(top: float, bottom: float) -> str:
    if bottom <= 0 or math.isinf(top) or math.isinf(bottom):
        return "-"
    value = top / bottom
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def headline_table(rows: Sequence[PeerRow]) -> list[str]:
    loads = [load.name for load in LOADS]
    lines = [
        "| # | design | sustained rows/s | rows per commit | "
        + " | ".join(f"freshness p50 / p99, {name}" for name in loads)
        + " | cost per million events |",
        "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in loads) + " | ---: |",
    ]
    for row in rows:
        fresh = []
        for name in loads:
            found = row.freshness.get(name)
            window = row.windows.get(name, 0.0)
            fresh.append(
                "-" if found is None else f"{_age(found.p50, window)} / {_age(found.p99, window)}"
            )
        mark = "**" if row.key in (NEW, *PEERS) else ""
        lines.append(
            f"| {mark}{row.key}{mark} | {row.title} | {_rate(row.rows_per_second)} | "
            f"{row.rows_per_commit:,.1f} | " + " | ".join(fresh) + f" | "
            f"${row.cost_per_million:,.2f} |"
        )
    return lines


def ratios_against(rows: Sequence[PeerRow], ours: str = NEW) -> list[str]:
    """Design `ours` against every other design: above 1x is better for ours in each column
    (rows/s and rows per commit: ours / theirs; freshness and cost: theirs / ours)."""
    mine = next(row for row in rows if row.key == ours)
    lines = [
        f"| design {ours} against | rows/s | rows per commit | freshness p50, trickle | "
        "freshness p50, peak | freshness p99, peak | cost per million |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row.key == ours:
            continue

        def fresh(load: str, q: str, them: PeerRow = row) -> str:
            a, b = them.freshness.get(load), mine.freshness.get(load)
            if a is None or b is None:
                return "-"
            theirs, own = getattr(a, q), getattr(b, q)
            if math.isinf(theirs) and not math.isinf(own):
                return "∞ (fell behind)"
            return _ratio(theirs, own)

        lines.append(
            f"| {row.key} | {_ratio(mine.rows_per_second, row.rows_per_second)} | "
            f"{_ratio(mine.rows_per_commit, row.rows_per_commit)} | {fresh('trickle', 'p50')} | "
            f"{fresh('peak', 'p50')} | {fresh('peak', 'p99')} | "
            f"{_ratio(row.cost_per_million, mine.cost_per_million)} |"
        )
    return lines


def freshness_table(results: Sequence[DesignResult]) -> list[str]:
    lines = [
        "| # | load | messages sent | committed within the window | p50 | p95 | p99 | max "
        "| measured for | duplicated rows |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    chosen = [r for r in results if r.design.compared and r.setting.name == GOAL]
    order = {load.name: i for i, load in enumerate(LOADS)}
    for r in sorted(chosen, key=lambda r: order[r.load.name]):
        f = r.freshness
        interval = f" (interval {r.interval_seconds:g} s)" if r.design.key == FIREHOSE else ""
        lines.append(
            f"| **{r.design.key}** | {r.load.title}{interval} | {f.sent:,} | {f.committed:,} | "
            + " | ".join(_age(v, r.elapsed) for v in (f.p50, f.p95, f.p99, f.max))
            + f" | {r.elapsed:.0f} s | {r.duplicated:,} |"
        )
    return lines


def cost_table(rows: Sequence[PeerRow]) -> list[str]:
    services = list(dict.fromkeys(name for row in rows for name in row.cost_lines))
    lines = [
        "| # | " + " | ".join(services) + " | total |",
        "| --- | " + " | ".join("---:" for _ in services) + " | ---: |",
    ]
    for row in rows:
        cells = [f"${row.cost_lines[s]:,.3f}" if s in row.cost_lines else "-" for s in services]
        lines.append(
            f"| **{row.key}** | " + " | ".join(cells) + f" | ${row.cost_per_million:,.2f} |"
        )
    return lines


def price_table() -> list[str]:
    lines = ["| price | USD | per | source | as of |", "| --- | ---: | --- | --- | --- |"]
    for name, price in PRICES.items():
        verified = "" if price.verified else " (unverified)"
        lines.append(
            f"| {name} | {price.usd:.10g} | {price.per} | {price.source}{verified} | "
            f"{price.as_of} |"
        )
    return lines


def spread(rates: Sequence[float]) -> str:
    if not rates:
        return "no repeats"
    low, mid, high = min(rates), statistics.median(rates), max(rates)
    width = (high - low) / mid if mid else 0.0
    return (
        f"{len(rates)} runs: min {low:,.0f}, median {mid:,.0f}, max {high:,.0f} rows/s "
        f"(spread {width:.1%} of the median)"
    )


ASSUMPTIONS = [
    "**Firehose-like (F).** A forwarder Lambda behind an event source mapping (batch 500, "
    "PutRecordBatch's maximum; MaximumConcurrency 5; 2 s window) relays each batch with "
    "PutRecordBatch and SQS deletes it once Firehose accepted it (Firehose has no SQS source). "
    "Firehose buffers until 5 MiB or 300 s, whichever comes first (BufferingHints defaults; "
    "ranges 1-128 MiB and 0-900 s: https://docs.aws.amazon.com/firehose/latest/APIReference/"
    "API_BufferingHints.html), writes the buffer to S3 and issues one COPY "
    "(https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html), retried after a "
    "failure for up to DurationInSeconds (default 3600 s: https://docs.aws.amazon.com/firehose/"
    "latest/APIReference/API_RedshiftRetryOptions.html), so a COPY that committed but was "
    "reported failed is loaded twice (at least once; `make bench-quick` provokes it and counts "
    "the duplicates). One COPY at a time per stream (unverified). Under the backlog and the "
    "peak the 5 MiB size is reached first (5 MiB of 4.1 KB bodies at 400/s is 3.2 s), so the "
    "interval does not matter; under the trickle the interval is scaled from 300 s to "
    "30 s so that a 40 s trickle is delivered within the run: at the default, a trickle's "
    "p50 would be about 150 s plus the COPY, its max about 300 s plus the COPY.",
    "**What a COPY costs in the model.** The S3 object is a CSV file of the rows' values "
    "(about 1.3 KB per row, the cheaper format: a `JSON 'auto'` COPY of the 4.1 KB bodies "
    "would read 3x the bytes), loaded by PostgreSQL's own `COPY ... FROM '<file>'`; the model "
    "charges it as any write: the commit's fixed part, the setting's cost per KB of the file "
    "(Redshift parses and writes every byte it loads), and 0.1 s per file "
    "(`copy_seconds_per_file`, unverified: AWS gives no figure; COPY reads each file from S3 "
    "and hands it to the slices, https://docs.aws.amazon.com/redshift/latest/dg/"
    "c_best-practices-use-multiple-files.html), all in the commit turn, because concurrent "
    "loads of one table are serialized (https://docs.aws.amazon.com/redshift/latest/dg/"
    "c_best-practices-single-copy-command.html). Like every statement it first pays the 1.5 s "
    "latency. Its Lambda cost is the forwarder's; a transformation Lambda is not charged.",
    "**Pipes-like (P).** Pipes polls SQS 10 messages at a time "
    "(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html; BatchSize "
    "1-10,000, window 0-300 s: https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/"
    "API_PipeSourceSqsQueueParameters.html), but the Redshift Data API is not a batchable "
    "target, and a pipe whose target cannot batch cannot batch at the source "
    "(https://docs.aws.amazon.com/eventbridge/latest/userguide/"
    "eb-pipes-batching-concurrency.html): each event is one BatchExecuteStatement "
    "(https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/"
    "API_PipeTargetRedshiftDataParameters.html) of one INSERT whose text, values spliced in, "
    "comes whole from the event (a dynamic path must be a whole value: "
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html). "
    "The pipe does not wait for the statement: an accepted submit is a delivered event, a "
    "refused one (quota, throttling) is redelivered by SQS. How many target calls a pipe makes "
    "at once is not documented for an SQS source (unverified): 10 pollers, each event of a "
    "batch submitted in parallel.",
    f"**Freshness** is read from the emulator's commit records: each carries PostgreSQL's id "
    "of its transaction, which PostgreSQL stamps on every row it wrote (xmin), so each row's "
    "commit time is the record's end, and a message's freshness is that minus its "
    "SendMessage time (its first commit, if it landed twice). A steady load sends for its "
    f"duration, then the run ends once all is committed or {STEADY_TAIL_SECONDS:g} s after "
    "the last send; a message not committed by then counts as infinitely stale (`> N s`: the "
    "design fell behind the offered load). Under the backlog every message is sent at the "
    "start, so freshness is the time to drain it.",
    "**Cost per million events** is each run's own counts (backlog drain, base setting) times "
    "the price table below, per message delivered: Lambda requests and GB-s at template.yaml's "
    "memory and architecture (each invocation's wall time, which includes waiting for the "
    "cluster, rounded up to 1 ms); SQS requests as billed (10 messages per call, 64 KB "
    "chunks, empty receives and the producer's SendMessageBatch calls included); Firehose "
    "per GB ingested with each record rounded up to 5 KB; Pipes per event (one 64 KB chunk); "
    "the Data API is free. Not counted, the same for all or too small to show: the cluster "
    "itself, S3 requests for Firehose's objects, CloudWatch, free tiers.",
]
