"""Email over SMTP (smtplib): multipart text + HTML, STARTTLS or implicit TLS, optional AUTH.

The Message-ID derives from the notification id, so a retried delivery carries the same id and mail systems
that de-duplicate on it show one message; all messages of one incident reference a common thread id. The HTML
part is rendered by Jinja2 with autoescaping (every value is untrusted); Jinja2 loads with the first message,
not when a config is validated. SMTP replies classify the attempt: 4xx is transient (retried), 5xx permanent
(not retried); network failures and timeouts are retried.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import EmailConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, destination_hash
from watchkeeper.alerts.channels.render import View, build_view, plain_text, truncate
from watchkeeper.alerts.model import Event, Notification

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("watchkeeper.alerts.channels")

SUBJECT_LIMIT = 200
_COLORS = {"critical": "#cf222e", "error": "#d1242f", "warning": "#bf8700", "info": "#0969da"}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")


@cache
def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def message_id(value: str, domain: str) -> str:
    return f"<{_ID_UNSAFE.sub('-', value)}@{domain}>"


def render_html(view: View) -> str:
    color = "#1a7f37" if view.event is Event.resolve else _COLORS.get(view.severity, "#59636e")
    runbook = view.runbook_url if view.runbook_url.startswith(("https://", "http://")) else ""
    return _templates().get_template("email.html.j2").render(view=view, color=color, runbook_link=runbook)


def build_message(notification: Notification, config: EmailConfig, *, dashboard_url: str) -> EmailMessage:
    view = build_view(notification, dashboard_url=dashboard_url, max_text_chars=config.max_text_chars)
    domain = config.from_address.rsplit("@", 1)[1]
    msg = EmailMessage()
    msg["Subject"] = truncate(view.headline, SUBJECT_LIMIT)
    msg["From"] = config.from_address
    msg["To"] = ", ".join(config.to)
    msg["Date"] = format_datetime(datetime.now(tz=UTC))
    msg["Message-ID"] = message_id(notification.id, domain)
    thread = message_id(f"incident.{notification.incident.id}", domain)
    msg["References"] = thread
    msg["In-Reply-To"] = thread
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Watchkeeper-Incident"] = _ID_UNSAFE.sub("-", notification.incident.id)
    msg.set_content(plain_text(view))
    msg.add_alternative(render_html(view), subtype="html")
    return msg


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return " ".join(text.split())[:200]


class EmailChannel(ConfiguredChannel):
    kind = "email"
    vendor = "Email"

    def __init__(self, config: EmailConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        self._config = config
        self.destination_key = f"email:{destination_hash(config.host, str(config.port), *config.to)}"

    def _tls_context(self) -> ssl.SSLContext:
        cafile = str(self._config.ca_file) if self._config.ca_file else None
        context = ssl.create_default_context(cafile=cafile)
        if not self._config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        msg = build_message(notification, self._config, dashboard_url=self.dashboard_url)
        return self.transmit(msg, timeout_s=min(timeout_s, self._config.timeout_s))

    def transmit(self, msg: EmailMessage, *, timeout_s: float) -> DeliveryResult:
        """One SMTP session delivering `msg`; classifies every failure."""
        c, where = self._config, f"SMTP server {self._config.host}:{self._config.port}"
        try:
            if c.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=timeout_s, context=self._tls_context()
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=timeout_s)
            with smtp:
                smtp.ehlo()
                if c.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if c.username and c.password is not None:
                    smtp.login(c.username, c.password.get_secret_value())
                refused = smtp.send_message(msg, from_addr=c.from_address, to_addrs=c.to)
        except smtplib.SMTPNotSupportedError as exc:
            feature = "STARTTLS" if "STARTTLS" in str(exc).upper() else "AUTH"
            return self._fail(
                False,
                None,
                f"{where} does not offer {feature}; check {self.config_key}.security and port "
                "(starttls usually 587, tls 465)",
            )
        except smtplib.SMTPAuthenticationError as exc:
            retry = 400 <= exc.smtp_code < 500
            return self._fail(
                retry,
                exc.smtp_code,
                f"{where} refused the login for {c.username} ({exc.smtp_code} "
                f"{_reply(exc)}); check {self.config_key}.username and password",
            )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {addr: code for addr, (code, _msg) in exc.recipients.items()}
            retry = all(400 <= code < 500 for code in codes.values())
            listed = ", ".join(f"{addr} ({code})" for addr, code in codes.items())
            return self._fail(
                retry,
                max(codes.values(), default=None),
                f"{where} refused every recipient: {listed}; check {self.config_key}.to",
            )
        except smtplib.SMTPResponseException as exc:
            retry = 400 <= exc.smtp_code < 500
            hint = (
                "temporary, will retry"
                if retry
                else f"permanent; check {self.config_key} (from, to, relay rights)"
            )
            return self._fail(
                retry, exc.smtp_code, f"{where} answered {exc.smtp_code} {_reply(exc)} ({hint})"
            )
        except ssl.SSLCertVerificationError as exc:
            return self._fail(
                False,
                None,
                f"{where} presented an untrusted certificate ({exc.verify_message}); set "
                f"{self.config_key}.ca_file to the relay's CA certificate",
            )
        except ssl.SSLError as exc:
            return self._fail(
                False,
                None,
                f"TLS with {where} failed ({exc.reason or type(exc).__name__}); check "
                f"{self.config_key}.security matches the port (starttls usually 587, tls 465)",
            )
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError, smtplib.SMTPException) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"timed out after {timeout_s:g}s"
            return self._fail(True, None, f"cannot deliver through {where}: {reason}")
        if refused:
            listed = ", ".join(f"{addr} ({code})" for addr, (code, _m) in refused.items())
            log.warning("%s: some recipients were refused: %s", self.config_key, listed)
            return DeliveryResult(ok=True, status=250, error=f"delivered, but {where} refused: {listed}")
        return DeliveryResult.success(250)

    def _fail(self, retryable: bool, status: int | None, error: str) -> DeliveryResult:
        password = self._config.password.get_secret_value() if self._config.password else ""
        if password and len(password) >= 4:
            error = error.replace(password, "***")
        log.warning("email delivery failed (%s): %s", "will retry" if retryable else "giving up", error)
        return DeliveryResult(ok=False, retryable=retryable, status=status, error=error)


def _create(config: EmailConfig, context: ChannelContext) -> EmailChannel:
    return EmailChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="email_configs", config_class=EmailConfig, create=_create)
