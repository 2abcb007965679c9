"""Cost per million events, from a run's own counts times the prices in bench/prices.py.

Counted: Lambda (this project's function, the old workers have none, the Firehose forwarder)
as requests plus GB-s at template.yaml's memory and architecture, each invocation's wall time
rounded up to 1 ms; SQS requests as billed (calls of up to 10 messages, per 64 KB chunk, empty
receives included; the producer's SendMessageBatch calls too); Firehose ingestion per GB with
each record rounded up to 5 KB; Pipes requests per event and 64 KB chunk; the Data API (free).
Left out, the same for every design or too small to show: the cluster itself, S3 requests and
storage for Firehose's objects, CloudWatch, data transfer, the free tiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.designs import Kind
from bench.prices import (
    FIREHOSE_GB,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    PIPES_CHUNK_BYTES,
    PIPES_REQUEST,
    SQS_REQUEST,
)
from bench.runner import DesignResult

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
_GB = 1024**3


@dataclass(frozen=True)
class FunctionSize:
    memory_mb: int
    architecture: str


def template_size(template: Path = TEMPLATE) -> FunctionSize:
    """The function's memory (FunctionMemoryMB's default) and architecture, read from
    template.yaml (a text read: its !Ref tags are not plain YAML)."""
    text = template.read_text()
    memory = re.search(r"^  FunctionMemoryMB:\n(?:    .*\n)*?    Default: (\d+)", text, re.M)
    architecture = re.search(r"Architectures: \[(\w+)\]", text)
    if memory is None or architecture is None:
        raise ValueError(f"{template}: no FunctionMemoryMB default or Architectures")
    return FunctionSize(int(memory.group(1)), architecture.group(1))


@dataclass(frozen=True)
class Cost:
    """USD per million events delivered, per priced service."""

    lines: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.lines.values())


def cost_per_million(result: DesignResult, size: FunctionSize) -> Cost:
    events = max(result.acknowledged, 1)
    scale = 1e6 / events
    lines: dict[str, float] = {"SQS": sum(result.sqs_billed.values()) * SQS_REQUEST.usd}
    kind = result.design.kind
    if kind in (Kind.FUNCTION, Kind.FIREHOSE):
        gb_seconds = result.tally.billed_ms / 1000 * size.memory_mb / 1024
        lines["Lambda"] = (
            result.tally.invocations * LAMBDA_REQUEST.usd
            + gb_seconds * LAMBDA_GB_SECOND[size.architecture].usd
        )
    if result.stream is not None:
        lines["Firehose"] = result.stream.billed_bytes / _GB * FIREHOSE_GB.usd
    if kind is Kind.PIPES:
        # Each event handed to the target (retries included) is a request per 64 KB chunk;
        # every benchmark body (about 4.1 KB) is one chunk.
        assert PIPES_CHUNK_BYTES > 4_200
        lines["Pipes"] = result.tally.records * PIPES_REQUEST.usd
    lines["Data API"] = 0.0
    return Cost({name: usd * scale for name, usd in lines.items()})
