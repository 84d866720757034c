"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP webhook, both on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.live_server import free_port


@dataclass
class ReceivedMail:
    to: list[str]
    subject: str
    body: str
    headers: dict[str, str]


class _MailHandler:
    def __init__(self, box: MailBox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        with self.box.lock:
            self.box.messages.append(ReceivedMail(
                to=list(envelope.rcpt_tos), subject=str(message["Subject"] or ""), body=body,
                headers={k: str(v) for k, v in message.items()},
            ))
        return "250 OK"


@dataclass
class MailBox:
    """A real SMTP server on 127.0.0.1 collecting what it receives."""

    port: int = field(default_factory=free_port)
    messages: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    def start(self) -> MailBox:
        self.controller = Controller(_MailHandler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def smtp_url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=noreply@ketnoi.local"

    def snapshot(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.messages)


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any]


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records JSON posts; ``status`` decides what it answers."""

    port: int = field(default_factory=free_port)
    status: int = 200
    posts: list[ReceivedPost] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if receiver.status == 200:
                    with receiver.lock:
                        receiver.posts.append(ReceivedPost(self.path, dict(self.headers.items()), json.loads(raw)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        # Binding may briefly fail right after a previous server on the same port closed.
        for _ in range(50):
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                time.sleep(0.1)
        assert self.server is not None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def snapshot(self) -> list[ReceivedPost]:
        with self.lock:
            return list(self.posts)
