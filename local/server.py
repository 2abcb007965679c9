"""`python -m local.server`: serve the local Data API (on its own PostgreSQL) until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from local.model import FAST, RA3_LARGE, ClusterModel, ServiceConfig
from local.stack import LocalDataApi
from local.targets import Target, parse_target
from local.translate import BIND_MODES


def model_for(text: str, base: ClusterModel) -> tuple[str, ClusterModel]:
    """Parse `NAME:slots=5,rate=2,latency-ms=10,quota=100` (0 or none: no limit)."""
    name, _, spec = text.partition(":")
    if not name or not spec:
        raise ValueError(f"expected NAME:key=value,...; got {text!r}")
    model = base
    for item in spec.split(","):
        key, _, value = item.partition("=")
        limit = None if value in ("0", "none") else value
        if key == "slots":
            model = replace(model, slots=None if limit is None else int(limit))
        elif key == "rate":
            model = replace(model, statements_per_second=None if limit is None else float(limit))
        elif key == "latency-ms":
            model = replace(model, latency_seconds=float(value) / 1000)
        elif key == "quota":
            model = replace(model, active_quota=int(value))
        else:
            raise ValueError(f"unknown model key {key!r} in {text!r}")
    return name, model


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
        "--fast", action="store_true", help="no slots, rate ceiling or latency (quota stays)"
    )
    parser.add_argument("--slots", type=int, help=f"query slots (default {RA3_LARGE.slots})")
    parser.add_argument(
        "--rate",
        type=float,
        help=f"statements committed per second (default {RA3_LARGE.statements_per_second})",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        help=f"added latency per statement (default {RA3_LARGE.latency_seconds * 1000:g})",
    )
    parser.add_argument(
        "--quota", type=int, help=f"active statements quota (default {RA3_LARGE.active_quota})"
    )
    parser.add_argument(
        "--model-for",
        action="append",
        default=[],
        metavar="NAME:slots=N,rate=R,latency-ms=L,quota=Q",
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
    model = FAST if args.fast else RA3_LARGE
    changes: dict[str, Any] = {}
    if args.slots is not None:
        changes["slots"] = args.slots or None
    if args.rate is not None:
        changes["statements_per_second"] = args.rate or None
    if args.latency_ms is not None:
        changes["latency_seconds"] = args.latency_ms / 1000
    if args.quota is not None:
        changes["active_quota"] = args.quota
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
