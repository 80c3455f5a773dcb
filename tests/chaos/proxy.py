"""A disturbed Alertmanager: a small local HTTP proxy in front of the real one that
takes ``delay`` seconds per request and answers 400 to the first ``refuse`` posts, and
remembers what it forwarded and what the real Alertmanager answered."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Post:
    """One alert of one post: its key, state, and the answer it got (the proxy's 400 or
    the real Alertmanager's status)."""

    key: str
    state: str
    status: int
    batch: int
    """How many alerts the post carried."""
    at: float
    """Monotonic time of the answer."""


class AlertmanagerProxy:
    """``url`` forwards to ``target`` (started at once; :meth:`close` stops it)."""

    def __init__(self, target: str, *, delay: float = 0.0, refuse: int = 0) -> None:
        self.target = target.rstrip("/")
        self.delay = delay
        self.refuse = refuse
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(*proxy._forward("GET", self.path, None, self.headers))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, data = proxy._post(self.path, body, self.headers)
                self._answer(status, data)

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up waiting
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _post(self, path: str, body: bytes, headers: Any) -> tuple[int, bytes]:
        with self._lock:
            refused = self.refuse > 0
            self.refuse -= refused
        if refused:
            status, data = 400, b'{"error": "refused by the chaos proxy"}'
        else:
            status, data = self._forward("POST", path, body, headers)
        try:
            alerts = json.loads(body)
        except ValueError:
            alerts = []
        now = time.monotonic()
        with self._lock:
            for a in alerts if isinstance(alerts, list) else []:
                state = "resolved" if a.get("endsAt") else "firing"
                key = str(a.get("labels", {}).get("alert_key", ""))
                self.posts.append(Post(key, state, status, len(alerts), now))
        return status, data

    def _forward(self, method: str, path: str, body: bytes | None,
                 headers: Any) -> tuple[int, bytes]:
        time.sleep(self.delay)
        req = urllib.request.Request(self.target + path, data=body, method=method,
                                     headers={"Content-Type": headers.get("Content-Type")
                                              or "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as e:
            return int(e.code), bytes(e.read())
        except OSError as e:
            return 502, json.dumps({"error": str(e)}).encode()

    def delivered(self) -> dict[str, str]:
        """Per alert key, the state of its latest post the real Alertmanager accepted."""
        with self._lock:
            return {p.key: p.state for p in self.posts if 200 <= p.status < 300}

    def refused_alone(self) -> list[Post]:
        """The alerts the proxy refused in a post of their own (the sender drops those)."""
        with self._lock:
            return [p for p in self.posts if p.status == 400 and p.batch == 1]

    def last_post(self) -> dict[str, Post]:
        """Per alert key, its latest post, whatever the answer."""
        with self._lock:
            return {p.key: p for p in self.posts}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
