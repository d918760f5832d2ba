"""Settings of the email channel (``[channels.email]``).

The channel is on when ``imap_host`` is set; ``config/bridge.example.toml`` documents every
key with its default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MB = 1024 * 1024


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The IMAP server; empty leaves the channel off.
    imap_host: str = ""
    imap_port: int = Field(default=993, ge=0, le=65535)
    imap_security: Literal["ssl", "none"] = "ssl"
    username: str = ""
    password: str = Field(default="", repr=False)
    mailbox: str = "INBOX"
    smtp_host: str = ""
    smtp_port: int = Field(default=465, ge=0, le=65535)
    smtp_security: Literal["ssl", "starttls", "none"] = "ssl"
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    #: The support address customers write to and replies come from.
    from_address: str = ""

    #: Names this mailbox among several served by one bridge.
    account: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    #: The display name on outgoing mail ("Support <support@example.com>").
    from_name: str = Field(default="Support", max_length=80)
    #: Re-issue IMAP IDLE this often (seconds); servers drop an IDLE after 30 minutes.
    idle_seconds: int = Field(default=1500, ge=10, le=1740)
    #: Poll this often (seconds) when the server has no IDLE.
    poll_seconds: int = Field(default=60, ge=1)
    #: Longest wait between two reconnect attempts (seconds); the wait doubles up to this.
    reconnect_max_seconds: float = Field(default=60.0, gt=0)
    #: Seconds an IMAP or SMTP command may take.
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: On the very first start (no stored position yet): "new" reads only mail arriving from
    #: then on, "unseen" also the mail nobody has read, "all" the whole mailbox (use
    #: `bridge email import` for a big one).
    first_start: Literal["new", "unseen", "all"] = "unseen"
    #: After a message is stored: leave it ("none"), flag it \Seen, or move it to
    #: ``processed_folder``.
    processed_action: Literal["none", "seen", "move"] = "none"
    processed_folder: str = "Processed"
    #: Append a copy of every sent message to this folder; empty: keep no copy.
    sent_folder: str = ""
    #: A message with a new subject and no reference to an earlier one starts a new
    #: conversation; off: it joins the sender's latest email thread.
    new_subject_new_conversation: bool = True
    #: Attachments above this are not stored; the message says so instead.
    max_attachment_bytes: int = Field(default=25 * MB, gt=0)
    #: Automatic messages (acknowledgements, updates) sent to one address per UTC day, at
    #: most; more are refused so two robots cannot mail each other forever (RFC 3834).
    max_auto_per_sender_per_day: int = Field(default=5, ge=0)
    #: Treat the From address of every incoming message as proven. Only for a mailbox whose
    #: server rejects mail that fails DMARC; a verified address links the customer's history
    #: across channels, so a forged From would leak another customer's history.
    trust_sender_addresses: bool = False
    #: The authserv-id of the receiving server that adds Authentication-Results (RFC 8601):
    #: mail it marks dmarc=pass for the From domain counts as a proven address. Empty: none.
    trusted_authserv_id: str = ""
    #: SMTP connections used at once for sending.
    smtp_connections: int = Field(default=4, gt=0, le=64)
    #: A PEM file of certificate authorities trusted for IMAPS and SMTP TLS besides the
    #: system's (a server with a certificate of its own CA). Empty: the system's only.
    ca_file: str = ""

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if value and ("@" not in value or " " in value):
            raise ValueError("must be an email address such as support@example.com")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.imap_host)

    def problems(self) -> list[str]:
        """What keeps an enabled channel from working; reported on /readyz at start."""
        missing = [
            f"channels.email.{name} is required"
            for name in ("username", "smtp_host", "from_address")
            if not getattr(self, name)
        ]
        if self.processed_action == "move" and not self.processed_folder:
            missing.append("channels.email.processed_folder is required with processed_action")
        return missing
