"""Mail transports for the auth flows (password reset, email verification).

A transport is any object with ``async send(message)``. ``ConsoleMailer`` (the
development default) writes messages to the log; ``MemoryMailer`` keeps them in a list
(tests, previews). Production apps pass their own (SMTP, an HTTP mail API) to
``AuthPlugin(mailer=...)`` or set ``app.auth.mailer``.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

__all__ = ["ConsoleMailer", "MailMessage", "Mailer", "MemoryMailer"]

logger = logging.getLogger("stellate.auth.mail")


class MailMessage(msgspec.Struct, frozen=True):
    """One e-mail."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """What the auth flows send mail through."""

    async def send(self, message: MailMessage) -> None:
        """Deliver ``message`` (raise on failure)."""
        ...


class ConsoleMailer:
    """Writes each message to the ``stellate.auth.mail`` logger (development)."""

    async def send(self, message: MailMessage) -> None:
        logger.warning("E-mail to %s\nSubject: %s\n\n%s", message.to, message.subject, message.body)


class MemoryMailer:
    """Keeps sent messages in ``outbox`` (tests and previews)."""

    def __init__(self) -> None:
        self.outbox: list[MailMessage] = []

    async def send(self, message: MailMessage) -> None:
        self.outbox.append(message)
