"""The answers to /start, /status and /help, from the live queue.

Commands are answered by the adapter at once and are not stored: they are questions to the
bot, not messages to agents, and /start must not open an empty conversation. A plain "status"
typed as a message is something else: it is stored like any message, and the router answers
it through the outbox (``routing/router.py``, ``status_words``). Because "/status" itself
never reaches the store, the customer gets exactly one answer either way.
"""

from __future__ import annotations

from bridge.ports import CustomerHistory, QueueService
from channels.telegram.convert import CHANNEL, Command
from channels.telegram.texts import Standing, language_of, line_text, status_text, text


async def answer(command: Command, history: CustomerHistory, queue: QueueService) -> str:
    language = language_of(command.sender.language)
    if command.name == "help":
        return text("help", language)
    standing = await standing_of(command, history, queue)
    if command.name == "status":
        return status_text(standing, language)
    # /start: who we are, and what waiting looks like right now.
    if standing is not None and standing.state != "resolved":
        return f"{text('welcome', language)}\n\n{status_text(standing, language)}"
    return f"{text('welcome', language)} {newcomer_wait(queue, language)}"


async def standing_of(
    command: Command, history: CustomerHistory, queue: QueueService
) -> Standing | None:
    conversation = await history.current_conversation(command.thread)
    if conversation is None or not conversation.is_open:
        return None
    status = queue.status(conversation)
    return Standing(
        reference=conversation.reference,
        state=status.state.value,
        position=status.position,
        eta_seconds=status.eta_seconds,
        agent=status.agent_first_name,
    )


def newcomer_wait(queue: QueueService, language: str) -> str:
    """What someone who writes now would be promised: the router's estimate for the back of
    the line, capped like an acknowledgement (the channel's target when nobody serves it)."""
    _, total = queue.queue(limit=1)
    return line_text(total, queue.expected_wait(CHANNEL), language)
