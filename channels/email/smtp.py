"""Sending with aiosmtplib, and the one place SMTP errors become channel errors.

* 4xx replies, connection failures and timeouts are transient: the dispatcher retries.
* 5xx replies (550 mailbox unavailable, 554 rejected, ...) are permanent: the delivery fails
  and agents read the server's own words.
* A refused login (535) is a configuration problem, not the recipient's: it is retried
  (slowly) so replies are not lost while someone fixes the password.

https://aiosmtplib.readthedocs.io/en/stable/reference.html#exceptions
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from bridge.errors import PermanentChannelError, TransientChannelError
from channels.email.settings import EmailSettings

AUTH_RETRY_SECONDS = 300.0


class SmtpSender:
    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.smtp_connections)

    async def send(self, mail: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        settings = self._settings
        async with self._slots:
            try:
                await aiosmtplib.send(
                    mail,
                    sender=sender,
                    recipients=recipients,
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username or None,
                    password=settings.smtp_password or None,
                    use_tls=settings.smtp_security == "ssl",
                    start_tls=settings.smtp_security == "starttls",
                    timeout=settings.timeout_seconds,
                    cert_bundle=settings.ca_file or None,
                )
            except aiosmtplib.SMTPException as error:
                raise channel_error(error) from error
            except (OSError, TimeoutError) as error:
                raise TransientChannelError(f"SMTP: {type(error).__name__}: {error}") from error


def channel_error(
    error: aiosmtplib.SMTPException,
) -> TransientChannelError | PermanentChannelError:
    # Only one recipient is ever sent to, so its refusal is the whole story.
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        return channel_error(error.recipients[0])
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return TransientChannelError(
            f"SMTP login refused ({error.code}): {error.message}", retry_after=AUTH_RETRY_SECONDS
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        text = f"SMTP {error.code} {' '.join(error.message.split())}"
        if 500 <= error.code < 600:
            return PermanentChannelError(text)
        return TransientChannelError(text)
    return TransientChannelError(f"SMTP: {type(error).__name__}: {error}")
