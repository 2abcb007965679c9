"""The clusters and workgroups the local Data API serves: declared up front, as in an account."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

TargetKind = Literal["cluster", "workgroup"]
KINDS: tuple[TargetKind, ...] = ("cluster", "workgroup")
# The request field that names each kind, and the one DescribeStatement echoes.
FIELDS: dict[TargetKind, str] = {"cluster": "ClusterIdentifier", "workgroup": "WorkgroupName"}


@dataclass(frozen=True)
class Target:
    name: str
    kind: TargetKind
    databases: frozenset[str]

    @property
    def field(self) -> str:
        return FIELDS[self.kind]

    @property
    def arn(self) -> str:
        # A workgroup's real ARN holds its id, not its name: close enough for an error text.
        if self.kind == "cluster":
            return f"arn:aws:redshift:us-east-1:123456789012:cluster:{self.name}"
        return f"arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/{self.name}"


def make_target(name: str, kind: str = "cluster", databases: Iterable[str] = ("dev",)) -> Target:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if not name:
        raise ValueError("a target needs a name")
    chosen = frozenset(databases)
    if not chosen or not all(chosen):
        raise ValueError(f"target {name!r} needs at least one database name")
    return Target(name, "cluster" if kind == "cluster" else "workgroup", chosen)


def parse_target(text: str, kind: str) -> Target:
    """`NAME[:db,db]` (the command line's --cluster and --workgroup); the database is dev if
    none is named."""
    name, _, databases = text.partition(":")
    return make_target(name, kind, databases.split(",") if databases else ("dev",))


class Targets:
    """The declared targets by name; one name is one cluster or one workgroup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {}

    def declare(self, target: Target) -> None:
        with self._lock:
            self._targets[target.name] = target

    def get(self, name: str) -> Target | None:
        with self._lock:
            return self._targets.get(name)

    def all(self) -> list[Target]:
        with self._lock:
            return sorted(self._targets.values(), key=lambda t: t.name)

    def clear(self) -> None:
        with self._lock:
            self._targets.clear()
