"""`python -m local.server`: serve the local Data API (on its own PostgreSQL) until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from local.model import BASE, FAST, SETTINGS, ClusterModel, ServiceConfig
from local.stack import LocalDataApi
from local.targets import Target, parse_target
from local.translate import BIND_MODES


def _seconds_from_ms(value: str) -> float:
    return float(value) / 1000


# The keys of --model-for, the flags of the same names, and the model fields they set.
_MODEL_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "slots": ("slots", lambda v: None if v in ("0", "none") else int(v)),
    "latency-ms": ("latency_seconds", _seconds_from_ms),
    "commit-ms": ("commit_fixed_seconds", _seconds_from_ms),
    "commit-ms-per-kb": ("commit_seconds_per_kb", _seconds_from_ms),
    "table-locks": ("one_writer_per_table", lambda v: v.lower() in ("1", "on", "yes", "true")),
    "quota": ("active_quota", int),
}


def model_for(text: str, base: ClusterModel) -> tuple[str, ClusterModel]:
    """Parse `NAME:slots=5,latency-ms=10,commit-ms=50,commit-ms-per-kb=1,table-locks=on,quota=100`
    (slots 0 or none: no limit)."""
    name, _, spec = text.partition(":")
    if not name or not spec:
        raise ValueError(f"expected NAME:key=value,...; got {text!r}")
    changes: dict[str, Any] = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in _MODEL_KEYS:
            raise ValueError(f"unknown model key {key!r} in {text!r}")
        field, parse = _MODEL_KEYS[key]
        changes[field] = parse(value)
    return name, replace(base, **changes)


def _throttle(text: str) -> tuple[str, float]:
    operation, _, rate = text.partition("=")
    if not operation or not rate:
        raise argparse.ArgumentTypeError(f"expected Operation=calls-per-second; got {text!r}")
    return operation, float(rate)


def _target(kind: str) -> Callable[[str], Target]:
    def parse(text: str) -> Target:
        try:
            return parse_target(text, kind)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.server",
        description="A local Redshift Data API on PostgreSQL (never deployed).",
    )
    parser.add_argument(
        "--cluster",
        action="append",
        default=[],
        type=_target("cluster"),
        metavar="NAME[:db,db]",
        help="a provisioned cluster to serve, with its databases (default dev); repeatable",
    )
    parser.add_argument(
        "--workgroup",
        action="append",
        default=[],
        type=_target("workgroup"),
        metavar="NAME[:db,db]",
        help="a serverless workgroup to serve, with its databases (default dev); repeatable",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4599, help="port (default 4599; 0: any)")
    parser.add_argument(
        "--model",
        choices=[*SETTINGS, "fast"],
        default="base",
        help="cluster model: a setting of local.model (default base) or fast (only the quota)",
    )
    parser.add_argument("--fast", action="store_true", help="the same as --model fast")
    parser.add_argument("--slots", type=int, help=f"query slots (default {BASE.slots}; 0: none)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        help=f"latency per statement (default {BASE.latency_seconds * 1000:g})",
    )
    parser.add_argument(
        "--commit-ms",
        type=float,
        help=f"fixed cost of a commit (default {BASE.commit_fixed_seconds * 1000:.1f})",
    )
    parser.add_argument(
        "--commit-ms-per-kb",
        type=float,
        help=f"commit cost per KB written (default {BASE.commit_seconds_per_kb * 1000:g})",
    )
    parser.add_argument(
        "--table-locks",
        choices=("on", "off"),
        help="one writer at a time per table (default on; off with --model fast)",
    )
    parser.add_argument(
        "--quota", type=int, help=f"active statements quota (default {BASE.active_quota})"
    )
    parser.add_argument(
        "--model-for",
        action="append",
        default=[],
        metavar="NAME:slots=N,latency-ms=L,commit-ms=C,commit-ms-per-kb=K,table-locks=on,quota=Q",
        help="a model for one cluster or workgroup (repeatable; 0 or none: no limit)",
    )
    parser.add_argument(
        "--throttle",
        action="append",
        default=[],
        type=_throttle,
        metavar="Operation=PER_SECOND",
        help="account-level limit, e.g. ExecuteStatement=30 (repeatable)",
    )
    parser.add_argument(
        "--size-limit-counts-parameters",
        action="store_true",
        help="count parameter values towards the 100 KB statement limit",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        metavar="BYTES",
        help="refuse submits whose JSON request body is larger with HTTP 413 (default: no limit)",
    )
    parser.add_argument(
        "--bind-mode",
        choices=BIND_MODES,
        default="per-occurrence",
        help="how a parameter used twice is bound: once per occurrence (default) or once",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if not args.cluster and not args.workgroup:
        parser.error("declare the targets to serve: --cluster NAME[:db,...] or --workgroup ...")
    return args


def model_from_args(args: argparse.Namespace) -> ClusterModel:
    model = FAST if args.fast or args.model == "fast" else SETTINGS[args.model]
    given = {
        "slots": args.slots,
        "latency-ms": args.latency_ms,
        "commit-ms": args.commit_ms,
        "commit-ms-per-kb": args.commit_ms_per_kb,
        "table-locks": args.table_locks,
        "quota": args.quota,
    }
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if value is not None:
            field, parse = _MODEL_KEYS[key]
            changes[field] = parse(f"{value:g}" if isinstance(value, float) else str(value))
    return replace(model, **changes)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    model = model_from_args(args)
    try:
        per_target = [model_for(spec, model) for spec in args.model_for]
    except ValueError as exc:
        raise SystemExit(f"--model-for: {exc}") from exc
    config = ServiceConfig(
        size_limit_counts_parameters=args.size_limit_counts_parameters,
        throttle=dict(args.throttle),
        bind_mode=args.bind_mode,
        max_request_bytes=args.max_request_bytes,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalDataApi(host=args.host, port=args.port, model=model, config=config) as api:
        for name, target_model in per_target:
            api.service.set_model(name, target_model)
        for target in [*args.cluster, *args.workgroup]:
            api.declare_target(target.name, target.kind, target.databases)
        print(f"Redshift Data API on {api.endpoint_url} (PostgreSQL: {api.postgres_source})")
        for target in api.service.targets.all():
            print(f"  {target.kind} {target.name}: databases {', '.join(sorted(target.databases))}")
        print(f"  export AWS_ENDPOINT_URL_REDSHIFT_DATA={api.endpoint_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
