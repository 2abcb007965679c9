"""moto standing in for SQS: its server, for the dead-letter queue."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port: the handler reaches SQS over HTTP."""
    # werkzeug logs every request unless its logger is configured: keep it quiet.
    access_log = logging.getLogger("werkzeug")
    previous_level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        access_log.setLevel(previous_level)
