"""The Redshift Data API's JSON 1.1 wire protocol over HTTP, in front of the service."""

from __future__ import annotations

import json
import logging
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.errors import ApiError, UnknownOperationError, ValidationError
from local.service import DataApiService

log = logging.getLogger(__name__)

_TARGET_PREFIX = "RedshiftData."
_CONTENT_TYPE = "application/x-amz-json-1.1"


class DataApiHttpServer(ThreadingHTTPServer):
    """One thread per connection: a blocking WaitTimeSeconds must not hold up other clients."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: DataApiService) -> None:
        super().__init__(address, _Handler)
        self.service = service

    @property
    def endpoint_url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        if host in ("0.0.0.0", ""):  # noqa: S104 (a URL for clients, not a bind)
            host = "127.0.0.1"
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms per call).
    disable_nagle_algorithm = True
    server: DataApiHttpServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(_TARGET_PREFIX):
                raise UnknownOperationError(f"Unknown X-Amz-Target: {target!r}")
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise ValidationError("Request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise ValidationError("Request body must be a JSON object")
        except ApiError as exc:
            self._send(exc.status, exc.body())
            return
        response = self.server.service.dispatch(target[len(_TARGET_PREFIX) :], body, len(raw))
        if response.lose:
            # The operation took effect; the client sees its connection closed, no reply.
            self.close_connection = True
            return
        if response.delay:
            time.sleep(response.delay)
        try:
            if response.raw is not None:
                self._send_raw(response.status, *response.raw)
            else:
                self._send(response.status, response.body)
        except OSError:
            log.debug("%s: the client left before its reply", target)  # e.g. a read timeout
            self.close_connection = True

    def do_GET(self) -> None:
        # A health check for scripts waiting on `make local-api`.
        self._send(200, {"status": "ok"})

    def _send(self, status: int, reply: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(reply, separators=(",", ":")).encode(), _CONTENT_TYPE)

    def _send_raw(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
