"""Make apprise's plain SMTP cheap: build the TLS context only when a connection really uses TLS.

apprise 2.0's SMTP controller calls ``ssl.create_default_context()`` for every message, even for plain SMTP
where the context is never used. Loading the CA bundle costs about 60 ms of CPU per message on a 2-core
machine, which caps plain-SMTP delivery near 15 messages per second whatever the concurrency. Here the
controller's ``ssl`` name is pointed at a stand-in whose ``create_default_context`` returns a lazy context:
it records what apprise sets on it (``check_hostname``, ``verify_mode``) and builds the real context, with
those settings, on first real use (STARTTLS or SMTPS). TLS behaviour is unchanged; plain SMTP skips the cost.

Installed once by ``notifications.delivery``; a no-op if apprise's module layout changes.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


class LazySSLContext:
    """Stands in for an ``ssl.SSLContext`` until something other than a setting is asked of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_args", (args, kwargs))
        object.__setattr__(self, "_settings", {})
        object.__setattr__(self, "_context", None)

    def real(self) -> ssl.SSLContext:
        context: ssl.SSLContext | None = object.__getattribute__(self, "_context")
        if context is None:
            args, kwargs = object.__getattribute__(self, "_args")
            context = ssl.create_default_context(*args, **kwargs)
            for name, value in object.__getattribute__(self, "_settings").items():
                setattr(context, name, value)  # in order: check_hostname before verify_mode, as apprise does
            object.__setattr__(self, "_context", context)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if object.__getattribute__(self, "_context") is None:
            object.__getattribute__(self, "_settings")[name] = value
        else:
            setattr(object.__getattribute__(self, "_context"), name, value)


class _LazySSLModule:
    """The ``ssl`` module, except that ``create_default_context`` is lazy."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    @staticmethod
    def create_default_context(*args: Any, **kwargs: Any) -> Any:
        return LazySSLContext(*args, **kwargs)


def install() -> bool:
    """Point apprise's SMTP controller at the lazy context (idempotent); False if apprise has no such module."""
    global _installed
    with _lock:
        if _installed:
            return True
        try:
            module = importlib.import_module("apprise.plugins.email.smtp")
        except ImportError:
            return False
        if getattr(module, "ssl", None) is not ssl:
            return False
        module.ssl = _LazySSLModule()  # type: ignore[attr-defined]
        _installed = True
        return True
