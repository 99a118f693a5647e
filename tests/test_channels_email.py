"""Email through a real SMTP server (aiosmtpd): multipart, escaping, STARTTLS/TLS, AUTH, SMTP codes."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.net import free_port
from tests.support.receivers import MALICIOUS, make_notification
from watchkeeper.alerts.channels import EmailChannel, ReceiverConfig, build_channels
from watchkeeper.alerts.model import Event

PASSWORD = "s3cret-SMTP-passw0rd"


@dataclass
class Sink:
    """An aiosmtpd handler that stores messages and can be told to refuse RCPT or DATA."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"alerts"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


@dataclass
class Smtp:
    sink: Sink
    port: int


def start(sink: Sink, **kwargs: Any) -> tuple[Controller, int]:
    port = free_port()  # aiosmtpd's Controller cannot bind port 0
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


@pytest.fixture
def plain_smtp() -> Iterator[Smtp]:
    sink = Sink()
    controller, port = start(sink)
    yield Smtp(sink, port)
    controller.stop()


@pytest.fixture
def starttls_smtp(certificate: tuple[Path, Path]) -> Iterator[Smtp]:
    sink = Sink()
    controller, port = start(
        sink,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    yield Smtp(sink, port)
    controller.stop()


def channel(port: int, **overrides: Any) -> EmailChannel:
    config = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "watchkeeper@example.com",
        "to": ["oncall@example.com", "ml-team@example.com"],
        **overrides,
    }
    (built,) = build_channels(ReceiverConfig(name="oncall", email_configs=[config]), dashboard_url="")
    assert isinstance(built, EmailChannel)
    return built


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_multipart_message_contract(plain_smtp: Smtp) -> None:
    result = channel(plain_smtp.port).send(make_notification())
    assert result.ok and result.status == 250, result.error
    ((mail_from, rcpts, raw),) = plain_smtp.sink.messages
    assert mail_from == "watchkeeper@example.com" and rcpts == ["oncall@example.com", "ml-team@example.com"]
    msg = parse(raw)
    assert msg["Subject"] == "[CRITICAL] Triggered: Controversial output in support-bot"
    assert msg["Message-ID"] == "<inc-7f3a9c-trigger-1@example.com>"
    assert msg["References"] == "<incident.inc-7f3a9c@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Model: gpt-4o-mini" in text and "https://watchkeeper.example.com/incidents/inc-7f3a9c" in text
    assert 'href="https://watchkeeper.example.com/incidents/inc-7f3a9c"' in html and "gpt-4o-mini" in html


def test_message_id_is_stable_across_retries(plain_smtp: Smtp) -> None:
    sender, notification = channel(plain_smtp.port), make_notification(Event.resolve)
    assert sender.send(notification).ok and sender.send(notification).ok
    ids = {parse(raw)["Message-ID"] for _f, _r, raw in plain_smtp.sink.messages}
    assert ids == {"<inc-7f3a9c-resolve-1@example.com>"}


def test_html_escapes_malicious_output(plain_smtp: Smtp) -> None:
    title = "Injected\r\nBcc: attacker@example.com\r\n\r\n<b>body</b>"
    assert (
        channel(plain_smtp.port).send(make_notification(excerpt=MALICIOUS, summary=MALICIOUS, title=title)).ok
    )
    ((_from, rcpts, raw),) = plain_smtp.sink.messages
    msg = parse(raw)
    html = msg.get_body(("html",)).get_content()
    assert (
        "<script>" not in html and "&lt;script&gt;" in html and "<at>" not in html and "<b>body" not in html
    )
    assert "@here" not in html and "<!channel>" not in html
    assert msg["Bcc"] is None and "attacker@example.com" not in rcpts
    assert msg["Subject"] == "[CRITICAL] Triggered: Injected Bcc: attacker@example.com <b>body</b>"


def test_truncation_with_a_100kb_model_output(plain_smtp: Smtp) -> None:
    assert channel(plain_smtp.port).send(make_notification(excerpt="z" * 100_000, title="T" * 1000)).ok
    msg = parse(plain_smtp.sink.messages[0][2])
    assert len(msg["Subject"]) <= 200
    text = msg.get_body(("plain",)).get_content()
    assert "[truncated]" in text and len(text) < 10_000


def test_starttls_with_auth(starttls_smtp: Smtp, certificate: tuple[Path, Path]) -> None:
    sender = channel(
        starttls_smtp.port,
        security="starttls",
        username="alerts",
        password=PASSWORD,
        ca_file=str(certificate[0]),
    )
    result = sender.send(make_notification())
    assert result.ok, result.error
    assert len(starttls_smtp.sink.messages) == 1


def test_wrong_password_is_final_and_secret_free(
    starttls_smtp: Smtp, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    sender = channel(
        starttls_smtp.port,
        security="starttls",
        username="alerts",
        password="wrong-" + PASSWORD,
        ca_file=str(certificate[0]),
    )
    result = sender.send(make_notification())
    assert not result.ok and not result.retryable and result.status == 535
    assert "username and password" in (result.error or "")
    assert PASSWORD not in (result.error or "") and PASSWORD not in caplog.text


def test_untrusted_certificate_is_final(starttls_smtp: Smtp) -> None:
    sender = channel(starttls_smtp.port, security="starttls", username="alerts", password=PASSWORD)
    result = sender.send(make_notification())
    assert not result.ok and not result.retryable and "ca_file" in (result.error or "")


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    sink = Sink()
    controller, port = start(sink, ssl_context=server_context(certificate))
    try:
        result = channel(port, security="tls", ca_file=str(certificate[0])).send(make_notification())
    finally:
        controller.stop()
    assert result.ok, result.error
    assert len(sink.messages) == 1


def test_smtp_4xx_is_retryable(plain_smtp: Smtp) -> None:
    plain_smtp.sink.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    result = channel(plain_smtp.port).send(make_notification())
    assert not result.ok and result.retryable and result.status == 451


def test_smtp_5xx_is_final(plain_smtp: Smtp) -> None:
    plain_smtp.sink.rcpt_reply = "550 5.1.1 No such user"
    result = channel(plain_smtp.port).send(make_notification())
    assert not result.ok and not result.retryable and result.status == 550
    assert "oncall@example.com" in (result.error or "")


def test_connection_refused_is_retryable() -> None:
    result = channel(free_port()).send(make_notification(), timeout_s=2)
    assert not result.ok and result.retryable and result.status is None
