"""E-mail over SMTP: UTF-8 subject (RFC 2047) and body, so Vietnamese names arrive intact."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.grouping import Notification
from alerts.notifiers.base import PermanentError, TemporaryError
from alerts.notifiers.message import compose


class EmailNotifier:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        language: str,
        timezone: str,
        external_url: str,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ):
        self.name = "email"
        self.last_answer = ""  # what the receiver said to the last message (`ioc notify test`)
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.user, self.password, self.starttls, self.timeout_s = user, password, starttls, timeout_s
        self.language, self.timezone, self.external_url = language, timezone, external_url

    def close(self) -> None:
        """Nothing to close: each message opens its own SMTP connection."""

    def message(self, notification: Notification) -> EmailMessage:
        subject, body = compose(notification, self.language, self.timezone, self.external_url)
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="ioc")
        msg.set_content(body, charset="utf-8")
        return msg

    def send(self, notification: Notification) -> None:
        msg = self.message(notification)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
                self.last_answer = f"accepted by {self.host}:{self.port} for {len(self.recipients)} recipient(s)"
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {self.host}:{self.port} answered {exc.smtp_code}: {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise TemporaryError(error) from exc
            raise PermanentError(error) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"SMTP {self.host}:{self.port} refused the recipients: {exc.recipients}") from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise TemporaryError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
