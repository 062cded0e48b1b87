"""The ``email`` alert sink, configured in ``[plugins.email]``.

One message per alert to every recipient. The login comes from secret references resolved
at delivery time; logging in over an unencrypted connection is refused by the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import field, frozen
from attrs.validators import gt, in_, min_len

if TYPE_CHECKING:
    from email.message import EmailMessage

    from peaktrade_core.plugin_api import AlertDelivery, AlertEvent
from peaktrade_core.plugin_api import SecretError, SecretRef, redact, register_secrets_in

SECTION = "email"


def _login_needs_encryption(instance: EmailConfig, _attribute: Any, password: SecretRef | None) -> None:
    if (instance.username is None) != (password is None):
        raise ValueError("username, password: give both or neither")
    if password is not None and instance.security == "none":
        raise ValueError('password: logging in needs security = "starttls" or "tls"; the password would cross the network in clear')


@frozen
class EmailConfig:
    """``[plugins.email]``."""

    sender: str = field(validator=min_len(1))
    recipients: tuple[str, ...] = field(validator=min_len(1))
    host: str = "localhost"
    #: 587 for STARTTLS, 465 for implicit TLS, 25 for a local relay without login
    port: int = field(default=587, validator=gt(0))
    #: "starttls" (upgrade after connecting), "tls" (implicit TLS) or "none"
    security: str = field(default="starttls", validator=in_(("starttls", "tls", "none")))
    username: SecretRef | None = None
    password: SecretRef | None = field(default=None, validator=_login_needs_encryption)
    #: trust this CA file in addition to the system's (a relay with its own certificate)
    ca_file: str | None = None
    timeout_seconds: float = field(default=10.0, validator=gt(0.0))
    subject_prefix: str = "[peaktrade]"


_config: EmailConfig | None = None
_problem = "no [plugins.email] section in the config"


def config_sections() -> dict[str, type]:
    return {SECTION: EmailConfig}


def configure(config: Any) -> None:
    global _config, _problem
    section = config.plugins.get(SECTION) if isinstance(config.plugins, Mapping) else None
    register_secrets_in(section)
    if isinstance(section, EmailConfig) or section is None:
        _config = section
        _problem = "no [plugins.email] section in the config"
        return
    # loaded before this plugin was: structure it now, with the core's strictness
    from peaktrade_core.plugin_api import structure_section

    _config, problems = structure_section(section, EmailConfig, f"plugins.{SECTION}")
    register_secrets_in(_config)
    _problem = "; ".join(f"{key}: {what}" for key, what in problems)


def emit_alert(event: AlertEvent, sinks: frozenset[str]) -> list[AlertDelivery]:
    if "email" not in sinks:
        return []
    if _config is None:
        # imported here, not at the top: the settings class is built at every CLI start
        from peaktrade_core.plugin_api import AlertDelivery

        return [AlertDelivery("email", False, _problem)]
    return [send_email(_config, event)]


def render(config: EmailConfig, event: AlertEvent) -> EmailMessage:
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    data = event.to_dict()
    message = EmailMessage()
    repeat = f" (x{event.repeat})" if event.repeat > 1 else ""
    message["Subject"] = f"{config.subject_prefix} {event.level.name} {event.source}/{event.code}: {event.message}{repeat}"[:250]
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message["Date"] = formatdate(event.time)
    message["Message-ID"] = make_msgid("peaktrade-alert")
    lines = [
        f"Level:    {event.level.name}",
        f"Source:   {event.source}",
        f"Code:     {event.code}",
        f"Time:     {data['time']}",
        f"Repeated: {event.repeat} time(s)",
        f"Alert id: {event.id}",
        "",
        event.message,
    ]
    if data["context"]:
        lines += ["", "Context:"] + [f"  {k}: {v}" for k, v in data["context"].items()]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_email(config: EmailConfig, event: AlertEvent) -> AlertDelivery:
    import smtplib  # the mail and TLS stacks load on first delivery, not with the plugin
    import ssl

    from peaktrade_core.plugin_api import AlertDelivery

    try:
        login = None
        if config.username is not None and config.password is not None:
            login = (config.username.resolve(), config.password.resolve())  # resolving registers them
        context = ssl.create_default_context(cafile=config.ca_file)
        if config.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=context)
            if login is not None:
                smtp.login(*login)
            smtp.send_message(render(config, event))
    except SecretError as exc:
        return AlertDelivery("email", False, f"login: {exc}")
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        where = f"{config.host}:{config.port}"
        return AlertDelivery("email", False, redact(f"{where}: {type(exc).__name__}: {exc}"))
    return AlertDelivery("email", True)
