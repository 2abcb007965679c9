"""Realistic AppsFlyer message bodies from the events generator's seeded payload builder."""

from __future__ import annotations

import json
from datetime import timedelta

from scripts.generate_events import BATCH_TIME, Generator

# A seed of its own: the benchmark's bodies do not shift when events/*.json are regenerated.
BENCH_SEED = 20250315


def make_bodies(count: int, seed: int = BENCH_SEED) -> list[str]:
    """`count` distinct event bodies, serialized as the relay sends them (compact UTF-8 JSON)."""
    generator = Generator(seed)
    return [
        json.dumps(
            generator.payload(BATCH_TIME + timedelta(milliseconds=20 * index)),
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for index in range(count)
    ]
