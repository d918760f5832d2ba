"""Real mail servers on loopback for the email tests and benches.

* :class:`Dovecot`: Debian's ``dovecot-imapd`` as a throwaway, unprivileged instance: its own
  config, runtime and state folders, log and maildirs under one temporary folder, listening on
  an ephemeral 127.0.0.1 port, plain IMAP (``ssl = no``), users in a passwd-file with static
  passwords. Dovecot refuses to run its login and mail processes as root, so when the tests
  run as root (CI does) those run as ``nobody`` and the mail folders belong to ``nobody``.
* :class:`SmtpSink`: an aiosmtpd SMTP server on the test's own event loop that records every
  message and delivers it into the Dovecot maildir of each recipient it knows, the way a
  local MTA would: a customer mails support over SMTP, the bridge reads it over IMAP.

When Dovecot is not installed the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import grp
import mailbox
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.databases import unavailable

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "secret-pass"
SUPPORT = "support@example.com"
CUSTOMER = "customer@example.net"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = {ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_fsync = never
{extra}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
"""


@dataclass
class Dovecot:
    users: tuple[str, ...] = (SUPPORT, CUSTOMER)
    extra: str = ""
    #: (certificate, key) PEM files: IMAPS (TLS from the first byte) instead of plain IMAP.
    tls: tuple[Path, Path] | None = None
    root: Path = field(init=False)
    port: int = field(init=False)
    uid: int = field(init=False)
    gid: int = field(init=False)
    config: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def start(self) -> Dovecot:
        if not os.path.exists(DOVECOT):
            unavailable("Dovecot", FileNotFoundError(f"{DOVECOT} (Debian package dovecot-imapd)"))
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.root.chmod(0o755)  # the unprivileged mail processes must reach their folders
        # Dovecot runs no login or mail process as root: as root, they run as nobody.
        root = os.geteuid() == 0
        account = pwd.getpwnam("nobody") if root else pwd.getpwuid(os.geteuid())
        self.uid, self.gid = account.pw_uid, account.pw_gid
        group = _group_name(self.gid)
        for folder in ("run", "state", "mail"):
            (self.root / folder).mkdir()
        users = self.root / "users"
        users.write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in self.users))
        users.chmod(0o644)
        for user in self.users:
            self.maildir(user)
        self._own(self.root / "mail")
        self.port = free_port()
        self.config = self.root / "dovecot.conf"
        extra = self.extra
        if self.tls is not None:
            extra += f"ssl_cert = <{self.tls[0]}\nssl_key = <{self.tls[1]}\n"
        self.config.write_text(
            CONFIG.format(
                root=self.root,
                ssl="required" if self.tls else "no",
                imap_port=0 if self.tls else self.port,
                imaps_port=self.port if self.tls else 0,
                uid=self.uid,
                gid=self.gid,
                user=account.pw_name,
                group=group,
                extra=extra,
            )
        )
        return self.launch()

    def launch(self) -> Dovecot:
        """Start the server process (again, after :meth:`halt`: same port, same mail)."""
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited: {error}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if self.tls is not None or probe.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not listen: {self.log()}") from None
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server process, keeping its mail (a crash or restart of the server)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _own(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, self.uid, self.gid)
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.chown(os.path.join(folder, name), self.uid, self.gid)

    def path(self, user: str, folder: str | None = None) -> Path:
        path = self.root / "mail" / user
        return path / f".{folder}" if folder else path

    def maildir(self, user: str, folder: str | None = None) -> mailbox.Maildir:
        path = self.path(user, folder)
        created = not path.exists()
        box = mailbox.Maildir(path, create=True)
        if created:
            self._own(path)
        return box

    def deliver(self, user: str, raw: bytes, folder: str | None = None) -> str:
        """Put a message in the user's maildir the way an MTA's local delivery does."""
        box = self.maildir(user, folder)
        key = box.add(raw)
        if os.geteuid() == 0:
            os.chown(self.path(user, folder) / "new" / key, self.uid, self.gid)
        return key

    def fill(self, user: str, messages: list[bytes]) -> None:
        """Many messages at once, written straight into ``cur/`` (bench set-up)."""
        self.maildir(user)
        base = self.path(user) / "cur"
        stamp = int(time.time())
        for number, raw in enumerate(messages):
            path = base / f"{stamp}.M{number}P{os.getpid()}.bench:2,"
            path.write_bytes(raw)
            if os.geteuid() == 0:
                os.chown(path, self.uid, self.gid)

    def messages(self, user: str, folder: str | None = None) -> list[EmailMessage]:
        box = self.maildir(user, folder)
        found = []
        for key in box.iterkeys():
            with box.get_file(key) as handle:
                found.append(message_from_bytes(handle.read(), policy=policy.default))
        return [m for m in found if isinstance(m, EmailMessage)]

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The [channels.email] IMAP keys for the support mailbox."""
        return {
            "imap_host": "127.0.0.1",
            "imap_port": self.port,
            "imap_security": "ssl" if self.tls else "none",
            "username": SUPPORT,
            "password": PASSWORD,
            "from_address": SUPPORT,
            **overrides,
        }


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """An SMTP server that records and delivers; ``refuse`` maps an address to a reply."""

    def __init__(
        self,
        dovecot: Dovecot | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        mode: str = "none",
        login: tuple[str, str] | None = None,
    ) -> None:
        """``mode``: "none", "ssl" (TLS from the first byte) or "starttls" (required);
        ``login``: the only (user, password) accepted, and then required."""
        self.dovecot = dovecot
        self.tls = tls
        self.mode = mode
        self.login = login
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, port: int = 0) -> SmtpSink:
        """Listen on ``port`` (0: any free one; the same port again after :meth:`stop`, as a
        mail server coming back)."""
        loop = asyncio.get_running_loop()
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
        options: dict[str, Any] = {}
        if self.mode == "starttls":
            options |= {"tls_context": context, "require_starttls": True}
        if self.login is not None:
            options |= {"authenticator": self._authenticate, "auth_required": True}
            if self.mode == "ssl":
                # aiosmtpd does not see the TLS of an SSL listener, so it would hide AUTH;
                # the login is then offered (and checked) without being demanded.
                options |= {"auth_required": False, "auth_require_tls": False}
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="mx.test", loop=loop, **options),
            "127.0.0.1",
            port,
            ssl=context if self.mode == "ssl" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.login is not None
        user, password = self.login
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=good, handled=False)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not data:
            data = envelope.content
        received = Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], data)
        if self.dovecot is not None:
            for rcpt in received.rcpt_tos:
                if rcpt.lower() in self.dovecot.users:
                    self.dovecot.deliver(rcpt.lower(), data)
        async with self._changed:
            self.received.append(received)
            self._changed.notify_all()
        return "250 Message accepted"

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
        return self.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (its own CA: trust the cert)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    cert.chmod(0o644)
    key.chmod(0o644)  # Dovecot reads it before dropping privileges; a throwaway key anyway
    return cert, key


def new_message_id(domain: str = "mail.example.net") -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"
