"""`python -m bench.packing`: what the request budget and the column guard cost in rows per
commit, on the benchmark's AppsFlyer bodies, at the template's batch sizes.

No public source gives the Data API's limit on a whole BatchExecuteStatement request, so the
function budgets it (REQUEST_MAX_BYTES, default 2 MiB). This prints, for each budget, how many
commits a batch takes, its rows per commit and its largest request, beside an unbounded
budget: the price of being conservative, measured with the function's own renderer.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bench.bodies import make_bodies
from ingest.limits import DEFAULT_REQUEST_BYTES, SQLS_PER_BATCH
from ingest.records import Row, SqsMessage
from ingest.sql import InsertRenderer, Limits
from local.appsflyer import appsflyer_layout, validate

BATCH_SIZES = (680, 2_000, 10_000)  # the template's default BatchSize, and larger ones
BUDGETS: tuple[int | None, ...] = (None, 4_194_304, DEFAULT_REQUEST_BYTES, 1_048_576, 524_288)


@dataclass(frozen=True)
class Packing:
    batch: int
    budget: int | None
    guarded: bool
    commits: int
    rows_per_commit: float
    largest_request: int


def pack(rows: Sequence[Row], budget: int | None, *, guarded: bool) -> Packing:
    limits = Limits(
        100_000,
        32_767,
        SQLS_PER_BATCH - 1 if guarded else SQLS_PER_BATCH,
        max_request_bytes=budget,
        guarded=guarded,
    )
    rendering = InsertRenderer(appsflyer_layout(), limits).render(rows)
    transactions = rendering.transactions
    if rendering.oversized or sum(len(t.rows) for t in transactions) != len(rows):
        raise AssertionError("every row must be rendered exactly once")
    return Packing(
        len(rows),
        budget,
        guarded,
        len(transactions),
        len(rows) / len(transactions),
        max(t.request_bytes for t in transactions),
    )


def measure(batch_sizes: Sequence[int] = BATCH_SIZES) -> list[Packing]:
    bodies = make_bodies(max(batch_sizes))
    rows = [validate(SqsMessage(str(uuid.uuid4()), body, 1)) for body in bodies]
    valid = [r for r in rows if isinstance(r, Row)]
    results = []
    for size in batch_sizes:
        batch = valid[:size]
        results.append(pack(batch, None, guarded=False))
        results.extend(pack(batch, budget, guarded=True) for budget in BUDGETS)
    return results


def report(results: Sequence[Packing]) -> str:
    lines = [
        "batch   request budget    guard  commits  rows/commit  largest request",
        "-----   --------------    -----  -------  -----------  ---------------",
    ]
    for p in results:
        budget = "unbounded" if p.budget is None else f"{p.budget:,} B"
        lines.append(
            f"{p.batch:>5}   {budget:>14}    {'yes' if p.guarded else 'no':>5}  {p.commits:>7}"
            f"  {p.rows_per_commit:>11.1f}  {p.largest_request:>13,} B"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.packing", description=__doc__)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    args = parser.parse_args(argv)
    print(report(measure(args.batch_sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
