"""IMAPS and SMTP over TLS (from the first byte, and STARTTLS) with a login, against Dovecot
and aiosmtpd holding a certificate the channel trusts through ``ca_file``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import TransientChannelError
from bridge.model import ThreadRef
from tests.email.rig import customer_mail, mail_in, outbound, rig
from tests.email.servers import CUSTOMER, SUPPORT, Dovecot, SmtpSink, self_signed

KEY = f"{CUSTOMER}|root@example.net"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def imaps(certificate: tuple[Path, Path]) -> Iterator[Dovecot]:
    server = Dovecot(tls=certificate).start()
    try:
        yield server
    finally:
        server.stop()


async def test_imaps_with_a_private_ca(imaps: Dovecot, certificate: tuple[Path, Path]) -> None:
    plain = await SmtpSink(imaps).start()
    try:
        setup = rig(imaps, plain, ca_file=str(certificate[0]))
        assert setup.settings.imap_security == "ssl"
        adapter = await setup.started()
        await mail_in(plain, customer_mail("over TLS", message_id="tls-1@example.net"))
        [item] = await setup.store.wait_for(1)
        assert item.external_id == "tls-1@example.net"
        await adapter.stop()
    finally:
        await plain.stop()


# aiosmtpd 1.4 trips over its own deprecation when a login succeeds (aiosmtpd/smtp.py sets
# Session.login_data); the warning is about aiosmtpd, not about the channel.
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_smtp_over_tls_with_a_login(
    dovecot: Dovecot, certificate: tuple[Path, Path], mode: str
) -> None:
    sink = await SmtpSink(dovecot, tls=certificate, mode=mode, login=(SUPPORT, "s3cret")).start()
    try:
        common = {
            "smtp_security": mode,
            "smtp_username": SUPPORT,
            "ca_file": str(certificate[0]),
        }
        setup = rig(dovecot, sink, smtp_password="s3cret", **common)
        conversation = setup.store.add_conversation(ThreadRef("email", "default", KEY))
        out = outbound("Hello over TLS", thread_key=KEY, conversation_id=conversation.id)
        await setup.adapter().send(out)
        [received] = await sink.wait_for(1)
        assert received.rcpt_tos == [CUSTOMER]

        wrong = rig(dovecot, sink, smtp_password="wrong", **common)
        wrong.store = setup.store
        with pytest.raises(TransientChannelError, match="login refused") as raised:
            await wrong.adapter().send(out)
        assert raised.value.retry_after is not None
    finally:
        await sink.stop()
