"""What a Telegram message holds besides text: the files to download, and readable
placeholders for what agents cannot open (https://core.telegram.org/bots/api#message).

Pure functions over aiogram's types; tested with :mod:`channels.telegram.convert` on the
recorded updates.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import Message

#: The prefix of a payload field set aside because this aiogram could not read it.
UNREADABLE = "unreadable_"


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file in a message, to be downloaded with ``getFile``."""

    file_id: str
    name: str
    content_type: str
    size: int | None  # as Telegram reported it; may be missing


#: Message fields that carry one file: (field, name when the file has none, default type).
#: The order is the Bot API's; a message has at most one of them.
_FILE_KINDS = (
    ("document", "document_{mid}", "application/octet-stream"),
    ("voice", "voice_{mid}.ogg", "audio/ogg"),
    ("video", "video_{mid}.mp4", "video/mp4"),
    ("video_note", "video_note_{mid}.mp4", "video/mp4"),
    ("audio", "audio_{mid}.mp3", "audio/mpeg"),
    ("animation", "animation_{mid}.mp4", "video/mp4"),
)


def files_of(message: Message) -> tuple[FileRef, ...]:
    mid = message.message_id
    if message.photo:
        # Sizes come smallest first; the largest is the original as Telegram keeps it.
        photo = message.photo[-1]
        return (FileRef(photo.file_id, f"photo_{mid}.jpg", "image/jpeg", photo.file_size),)
    for kind, name, content_type in _FILE_KINDS:
        file = getattr(message, kind)
        if file is not None:
            return (
                FileRef(
                    file.file_id,
                    getattr(file, "file_name", None) or name.format(mid=mid),
                    getattr(file, "mime_type", None) or content_type,
                    file.file_size,
                ),
            )
    return ()


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(max(0, seconds), 60)
    return f"{minutes}:{seconds:02d}"


def placeholder(message: Message) -> str:
    """A readable stand-in for a message without text or caption, for agents."""
    if message.photo:
        return "[photo]"
    if message.document is not None:
        return f"[document: {message.document.file_name or 'file'}]"
    if message.voice is not None:
        return f"[voice message, {_duration(message.voice.duration)}]"
    if message.video is not None:
        return f"[video, {_duration(message.video.duration)}]"
    if message.video_note is not None:
        return f"[video message, {_duration(message.video_note.duration)}]"
    if message.audio is not None:
        audio = message.audio
        title = " - ".join(p for p in (audio.performer, audio.title) if p)
        return f"[audio: {title}]" if title else "[audio]"
    if message.animation is not None:
        return "[animation]"
    if message.sticker is not None:
        emoji = message.sticker.emoji
        return f"[sticker {emoji}]" if emoji else "[sticker]"
    if message.venue is not None:
        venue = message.venue
        where = _coordinates(venue.location.latitude, venue.location.longitude)
        return f"[venue: {venue.title}, {venue.address} ({where})]"
    if message.location is not None:
        return f"[location {_coordinates(message.location.latitude, message.location.longitude)}]"
    if message.contact is not None:
        contact = message.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        return f"[contact: {name}, {contact.phone_number}]"
    if message.poll is not None:
        return f"[poll: {message.poll.question}]"
    if message.dice is not None:
        return f"[dice {message.dice.emoji} {message.dice.value}]"
    if message.game is not None:
        return f"[game: {message.game.title}]"
    extra = [k.removeprefix(UNREADABLE) for k in (message.model_extra or {})]
    return f"[unsupported message: {extra[0] if extra else content_type(message)}]"


def _coordinates(latitude: float, longitude: float) -> str:
    """ "55.75, 37.61": five decimals (about a metre) without trailing zeros."""
    return ", ".join(f"{v:.5f}".rstrip("0").rstrip(".") for v in (latitude, longitude))


def too_large_note(name: str, size: int | None) -> str:
    """What agents see in place of a file the bot may not download."""
    if size is None:
        return f"[file too large: {name}]"
    return f"[file too large: {name}, {human_size(size)}]"


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def content_type(message: Message) -> str:
    """aiogram's name for what the message holds ("text", "new_chat_members", "unknown")."""
    kind = message.content_type
    return str(getattr(kind, "value", kind))
