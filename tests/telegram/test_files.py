"""Files both ways: customers' files downloaded (getFile + the file route) and stored; agents'
files uploaded as multipart sendDocument/sendPhoto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import Running
from tests.telegram.bridge import telegram_bridge
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.updates import message, sends_document, user
from tests.telegram.waiting import CHAT, conversation_id, messages_of, reply

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


async def download(bridge: Running, attachment: dict[str, Any]) -> bytes:
    async with bridge.http.get(bridge.url(attachment["url"]), headers=bridge.auth) as response:
        assert response.status == 200
        return await response.read()


async def upload(bridge: Running, data: bytes, name: str, content_type: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=content_type)
    async with bridge.http.post(bridge.url("/api/files"), data=form, headers=bridge.auth) as r:
        assert r.status == 201, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def test_a_customers_document_is_downloaded_and_stored(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        sends_document(fake, CHAT, PDF, "invoice.pdf", caption="my invoice")
        conversation = await conversation_id(bridge)
        [stored] = await messages_of(bridge, conversation, 1)
        assert stored["text"] == "my invoice"
        [attachment] = stored["attachments"]
        assert (attachment["name"], attachment["content_type"], attachment["size"]) == (
            "invoice.pdf",
            "application/pdf",
            len(PDF),
        )
        assert await download(bridge, attachment) == PDF
        assert [c.status for c in fake.calls_of("getFile")] == [200]
        assert [c.status for c in fake.calls if c.method == "download"] == [200]


async def test_a_photo_alone_starts_a_conversation(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        small = fake.add_file(b"small", path="photos/s.jpg")
        large = fake.add_file(b"\xff\xd8 the large one", path="photos/l.jpg")
        sizes = [
            {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size,
             "width": w, "height": w}
            for f, w in ((small, 90), (large, 1280))
        ]  # fmt: skip
        fake.push_update({"message": message(fake, CHAT, photo=sizes)})
        conversation = await conversation_id(bridge)
        [stored] = await messages_of(bridge, conversation, 1)
        assert stored["text"] == "[photo]"
        assert await download(bridge, stored["attachments"][0]) == b"\xff\xd8 the large one"


async def test_a_file_over_the_limit_is_noted_for_agents_and_the_customer_is_told(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        sends_document(
            fake,
            CHAT,
            b"not really 25 MB",
            "backup.zip",
            mime_type="application/zip",
            size=25 * 1024 * 1024,
            sender=user(CHAT, "Иван", "ru"),
        )
        conversation = await conversation_id(bridge)
        [stored] = await messages_of(bridge, conversation, 1)
        assert stored["text"] == "[file too large: backup.zip, 25.0 MB]"
        assert stored["attachments"] == []
        assert not fake.calls_of("getFile")  # the size in the update was enough to know
        await fake.wait_for(lambda: bool(fake.sent_to(CHAT)))
        notice = fake.sent_to(CHAT)[0].text
        assert "backup.zip" in notice
        assert "20.0 MB" in notice
        assert "К сожалению" in notice


async def test_a_download_that_fails_for_now_is_retried_not_lost(
    tmp_path: Path, fake: FakeBotApi
) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        fake.fail("getFile", 502, "Bad Gateway", times=2)
        sends_document(fake, CHAT, PDF, "invoice.pdf")
        conversation = await conversation_id(bridge)
        [stored] = await messages_of(bridge, conversation, 1)
        assert stored["text"] == "[document: invoice.pdf]"
        assert await download(bridge, stored["attachments"][0]) == PDF
        assert [c.status for c in fake.calls_of("getFile")] == [502, 502, 200]


async def test_an_agents_files_go_out_after_the_text(tmp_path: Path, fake: FakeBotApi) -> None:
    async with telegram_bridge(tmp_path, fake) as bridge:
        fake.push_update({"message": message(fake, CHAT, text="Send me the manual please")})
        conversation = await conversation_id(bridge)
        manual = await upload(bridge, PDF, "manual.pdf", "application/pdf")
        picture = await upload(bridge, b"\x89PNG\r\n\x1a\n picture", "label.png", "image/png")
        await reply(
            bridge,
            conversation,
            "Here it is, with the label.",
            attachments=[
                {"key": manual["key"], "name": "manual.pdf"},
                {"key": picture["key"], "name": "label.png"},
            ],
        )
        await fake.wait_for(lambda: len(fake.sent_to(CHAT)) == 3)
        text, document, photo = fake.sent_to(CHAT)
        assert (text.kind, text.text) == ("text", "Here it is, with the label.")
        assert document.kind == "document"
        assert document.upload is not None
        assert (document.upload.filename, document.upload.data) == ("manual.pdf", PDF)
        assert photo.kind == "photo"
        assert photo.upload is not None
        assert photo.upload.data == b"\x89PNG\r\n\x1a\n picture"
