"""`make chaos`: long seeded chaos runs against the local stack; prints one line per seed."""

from __future__ import annotations

import argparse
import os
import sys
import time

from local.aws_doubles import moto_server
from local.model import FAST
from local.stack import LocalDataApi
from tests.chaos.harness import ADDRESS, ChaosRun


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--fault-rounds", type=int, default=40)
    options = parser.parse_args()
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    failed = 0
    totals = {"rounds": 0, "faults": 0, "records": 0, "duplicates": 0, "lost": 0}
    started = time.monotonic()
    with LocalDataApi(model=FAST) as api, moto_server() as sqs_endpoint:
        for seed in range(options.first_seed, options.first_seed + options.seeds):
            api.reset(FAST)
            api.declare_target(ADDRESS["primary"], "cluster", databases=("dev",))
            api.declare_target(ADDRESS["secondary"], "workgroup", databases=("dev",))
            report = ChaosRun(
                api,
                sqs_endpoint,
                seed=seed,
                records=options.records,
                batch_size=options.batch_size,
                fault_rounds=options.fault_rounds,
            ).run()
            print(report.line(), flush=True)
            failed += not report.ok
            totals["rounds"] += report.rounds
            totals["faults"] += sum(report.faults.values())
            totals["records"] += report.records
            totals["duplicates"] += len(report.duplicates)
            totals["lost"] += len(report.lost)
    print(
        f"{options.seeds} seeds in {time.monotonic() - started:.0f} s: "
        + ", ".join(f"{value} {name}" for name, value in totals.items())
        + f"; {failed} seeds failed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
