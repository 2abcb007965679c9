"""The handler's own CPU per record (validation plus rendering) against json.loads of the body."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ingest.records import Row, SqsMessage
from local.appsflyer import render, validate

REPEATS = 7  # best of: other processes on the machine only ever add time


@dataclass(frozen=True)
class HandlerCpu:
    records: int
    validate_us: float  # per record: JSON parsing included, it is part of validating
    render_us: float  # per record: packing rows into <= 100 KB INSERTs
    json_loads_us: float  # per record: json.loads of the same body, nothing else
    rows_per_statement: float  # mean over full statements (the last, partial one excluded)
    statement_bytes: float  # mean size of those statements, as budgeted
    keys_per_body: float  # payload fields per record: validation visits each one

    @property
    def handler_us(self) -> float:
        return self.validate_us + self.render_us

    @property
    def ratio(self) -> float:
        return self.handler_us / self.json_loads_us


def _best_us_per_record(works: list[Callable[[], object]], records: int) -> list[float]:
    """Best of REPEATS per piece of work, the pieces interleaved so drift hits them alike."""
    best = [float("inf")] * len(works)
    for _ in range(REPEATS):
        for index, work in enumerate(works):
            started = time.process_time()
            work()
            best[index] = min(best[index], time.process_time() - started)
    return [1e6 * seconds / records for seconds in best]


def measure_handler_cpu(bodies: list[str], table: str) -> HandlerCpu:
    messages = [SqsMessage(str(uuid.uuid4()), body, 1) for body in bodies]
    rows = [outcome for outcome in map(validate, messages) if isinstance(outcome, Row)]
    if len(rows) != len(messages):
        raise ValueError("the benchmark's bodies must all be valid")

    def render_all() -> object:
        # STATEMENT_MAX_BYTES, STATEMENT_MAX_PARAMETERS and STATEMENTS_PER_TRANSACTION at their
        # defaults, for the example table (the function's own layout of it).
        return render(rows, statements_per_transaction=40)

    rendering = render(rows, statements_per_transaction=40)
    statements = rendering.statements
    full = statements[:-1] or statements
    validate_us, render_us, json_us = _best_us_per_record(
        [
            lambda: [validate(m) for m in messages],
            render_all,
            lambda: [json.loads(b) for b in bodies],
        ],
        len(bodies),
    )
    return HandlerCpu(
        records=len(bodies),
        validate_us=validate_us,
        render_us=render_us,
        json_loads_us=json_us,
        rows_per_statement=sum(len(s.rows) for s in full) / len(full),
        statement_bytes=sum(s.size for s in full) / len(full),
        keys_per_body=sum(len(json.loads(b)) for b in bodies) / len(bodies),
    )


def measure_in_fresh_process(bodies: list[str], table: str) -> HandlerCpu:
    """The same measurement in a new interpreter: the minutes of benchmark before it leave a
    large heap (every design's results, bodies and clients) whose garbage collections would
    be charged to the handler, which in Lambda starts each invocation with a small one."""
    request = json.dumps({"bodies": bodies, "table": table})
    answer = subprocess.run(
        [sys.executable, "-m", "bench.cpu"],
        input=request,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    return HandlerCpu(**json.loads(answer.stdout))


if __name__ == "__main__":
    asked = json.loads(sys.stdin.read())
    measured = measure_handler_cpu(asked["bodies"], asked["table"])
    sys.stdout.write(json.dumps(dataclasses.asdict(measured)))
