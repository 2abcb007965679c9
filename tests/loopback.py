"""A loopback HTTP endpoint whose every connection is handed to a test's own handler: for
endpoints that misbehave on purpose (never answer, answer byte by byte)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def misbehaving_endpoint(
    handle: Callable[[socket.socket, threading.Event], None],
) -> Iterator[str]:
    """Yields the endpoint's URL; each accepted connection runs `handle(connection, stop)` on a
    thread of its own, `stop` being set when the endpoint closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(connection, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
