"""The e-mail sink against a real aiosmtpd server on 127.0.0.1: STARTTLS and implicit TLS
with a self-signed certificate, login from secret references, config validation."""

from __future__ import annotations

import email
import shutil
import socket
import ssl
import subprocess
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from peaktrade_core.plugin_api import (
    AlertDispatcher,
    AlertEvent,
    AlertLevel,
    ConfigError,
    get_plugin_manager,
)
from peaktrade_core.testing import structure_config

USER, PASSWORD = "alerts@example.org", "sm7p-pa55w0rd"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(where / "key.pem"), "-out", str(where / "cert.pem")],
        check=True, capture_output=True,
    )
    return where / "cert.pem", where / "key.pem"


class Inbox:
    def __init__(self):
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (USER, PASSWORD)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(params=["starttls", "tls"])
def smtp_server(request, certificate):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    if request.param == "starttls":
        options = {"tls_context": server_tls, "require_starttls": True, "auth_require_tls": True}
    else:  # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; this connection is TLS from the start
        options = {"ssl_context": server_tls, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
                            auth_required=True, **options)
    controller.start()
    yield request.param, port, inbox
    controller.stop()


def email_config(monkeypatch, security, port, cert, **overrides):
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    section = {"host": "127.0.0.1", "port": port, "security": security, "sender": "peaktrade@example.org",
               "recipients": ["ops@example.org", "oncall@example.org"], "username": {"env": "SMTP_USER"},
               "password": {"env": "SMTP_PASSWORD"}, "ca_file": str(cert), "timeout_seconds": 5.0, **overrides}
    raw = {"live_alerts": {"sinks": ["email", "log"], "min_level": "info"}, "plugins": {"email": section}}
    config = structure_config(raw, "config.toml", get_plugin_manager().config_sections())
    get_plugin_manager().configure(config)
    return config


def test_alert_arrives_by_mail_with_login_over_tls(monkeypatch, smtp_server, certificate):
    security, port, inbox = smtp_server
    config = email_config(monkeypatch, security, port, certificate[0])
    d = AlertDispatcher(config.live_alerts)
    d.start()
    d.emit(AlertEvent(AlertLevel.CRITICAL, "killswitch", "engaged", "kill switch engaged by alice", {"reason": "runaway"}))
    assert d.flush(10)
    d.close(1)
    [(sender, recipients, message)] = inbox.messages
    assert inbox.logins == [USER]
    assert sender == "peaktrade@example.org" and recipients == ["ops@example.org", "oncall@example.org"]
    assert message["Subject"] == "[peaktrade] CRITICAL killswitch/engaged: kill switch engaged by alice"
    body = message.get_content()
    assert "Level:    CRITICAL" in body and "reason: runaway" in body
    [row] = d.history.query()
    assert {x["sink"]: x["status"] for x in row["deliveries"]} == {"email": "delivered", "log": "delivered"}


def test_wrong_password_is_a_failed_delivery_that_never_shows_the_password(monkeypatch, smtp_server, certificate):
    security, port, inbox = smtp_server
    config = email_config(monkeypatch, security, port, certificate[0])
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password")
    from peaktrade_alerts_email.plugin import send_email

    delivery = send_email(config.plugins["email"], AlertEvent(AlertLevel.CRITICAL, "t", "c", "m"))
    assert not delivery.ok and "SMTPAuthenticationError" in delivery.error
    assert "not-the-password" not in delivery.error
    assert inbox.messages == []


def test_untrusted_certificate_is_refused(monkeypatch, smtp_server, certificate):
    security, port, inbox = smtp_server
    config = email_config(monkeypatch, security, port, certificate[0], ca_file=None)
    from peaktrade_alerts_email.plugin import send_email

    delivery = send_email(config.plugins["email"], AlertEvent(AlertLevel.CRITICAL, "t", "c", "m"))
    assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in delivery.error
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"security": "none"}, 'plugins.email: password: logging in needs security = "starttls" or "tls"'),
        ({"username": None}, "plugins.email: username, password: give both or neither"),
        ({"password": "hunter2"}, "plugins.email.password: literal secret not allowed"),
        ({"port": "587"}, "plugins.email.port: expected a whole number"),
        ({"securty": "tls"}, "plugins.email.securty: unknown key (did you mean security?)"),
        ({"recipients": []}, "plugins.email: Length of 'recipients' must be >= 1"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_key(section, expected):
    base = {"sender": "a@b", "recipients": ["c@d"], "username": {"env": "U"}, "password": {"env": "P"}}
    section = {k: v for k, v in {**base, **section}.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        structure_config({"plugins": {"email": section}}, "config.toml", get_plugin_manager().config_sections())
    assert any(line.startswith("config.toml: " + expected) for line in caught.value.lines), caught.value.lines
