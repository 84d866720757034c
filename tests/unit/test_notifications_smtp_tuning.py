"""The lazy TLS context behaves like the real one once used, with the settings apprise put on it."""

from __future__ import annotations

import ssl

from notifications.smtp_tuning import LazySSLContext, install


def test_lazy_context_applies_recorded_settings_when_first_used() -> None:
    lazy = LazySSLContext()
    lazy.check_hostname = False
    lazy.verify_mode = ssl.CERT_NONE
    assert object.__getattribute__(lazy, "_context") is None  # nothing built yet: plain SMTP never pays
    real = lazy.real()
    assert isinstance(real, ssl.SSLContext)
    assert (real.check_hostname, real.verify_mode) == (False, ssl.CERT_NONE)
    assert lazy.wrap_socket == real.wrap_socket  # used as a context, it is the real one


def test_verified_context_keeps_ssl_defaults() -> None:
    real = LazySSLContext().real()
    assert real.check_hostname is True and real.verify_mode == ssl.CERT_REQUIRED


def test_install_points_only_apprise_smtp_at_the_lazy_context() -> None:
    import apprise.plugins.email.smtp as smtp

    assert install() and install()  # idempotent
    assert isinstance(smtp.ssl.create_default_context(), LazySSLContext)
    assert smtp.ssl.CERT_NONE == ssl.CERT_NONE
    assert isinstance(ssl.create_default_context(), ssl.SSLContext)  # the real module is untouched
