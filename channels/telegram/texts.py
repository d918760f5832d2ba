"""What the bot says on its own in Telegram: answers to /start, /status and /help, and the
notice about a file too large to receive. English, Russian and Portuguese, chosen by the
customer's Telegram ``language_code``; English otherwise.

These are answers to commands, sent by the adapter at once and not stored in a conversation
(the router's acknowledgements and status updates live in ``routing/texts.py``). Durations
come from Babel's CLDR data and are rounded up: "2 minutes" must not turn out to be three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from babel.dates import format_timedelta

DEFAULT = "en"
LANGUAGES = ("en", "ru", "pt")

_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "welcome": (
            "Hello! You've reached our support team. Write your question here and we'll "
            "answer in this chat."
        ),
        "help": (
            "Just write your question here; photos, documents and voice messages are welcome "
            "too. An agent will answer in this chat.\n\n"
            "/status - your place in line, or who is handling your conversation\n"
            "/help - this message"
        ),
        "queued": "Your conversation {reference} is number {position} in line.",
        "queued_eta": (
            "Your conversation {reference} is number {position} in line. The expected wait "
            "is {eta}."
        ),
        "in_line": "Your conversation {reference} is in line; we'll answer as soon as we can.",
        "assigned": "{agent} is handling your conversation {reference} and will answer here.",
        "assigned_anonymous": (
            "An agent is handling your conversation {reference} and will answer here."
        ),
        "pending_customer": (
            "We've answered your conversation {reference} and are waiting to hear from you. "
            "Write here if you need anything else."
        ),
        "no_conversation": (
            "You have no open conversation right now. Write your question here and we'll get "
            "back to you."
        ),
        "line_eta": "The expected wait right now is {eta}.",
        "line_busy": "Other customers are waiting right now; we'll answer as soon as we can.",
        "line_empty": "Nobody is waiting in line right now.",
        "less_than_a_minute": "less than a minute",
        "rated": "Thank you for your rating!",
        "not_rated": "This rating request has expired; thank you anyway.",
        "file_too_large": (
            "Sorry, we couldn't receive {name}: files can be at most {limit}. Could "
            "you send a smaller file, or a link to it?"
        ),
    },
    "ru": {
        "welcome": (
            "Здравствуйте! Это служба поддержки. Напишите свой вопрос здесь, и мы ответим в "
            "этом чате."
        ),
        "help": (
            "Просто напишите свой вопрос здесь; можно присылать фото, документы и голосовые "
            "сообщения. Сотрудник ответит в этом чате.\n\n"
            "/status — ваше место в очереди или кто занимается вашим обращением\n"
            "/help — это сообщение"
        ),
        "queued": "Обращение {reference} в очереди, ваше место — {position}.",
        "queued_eta": (
            "Обращение {reference} в очереди, ваше место — {position}. Ожидаемое время "
            "ответа: {eta}."
        ),
        "in_line": "Обращение {reference} в очереди; мы ответим, как только сможем.",
        "assigned": "Вашим обращением {reference} занимается {agent}. Ответ придёт сюда.",
        "assigned_anonymous": (
            "Вашим обращением {reference} уже занимается сотрудник. Ответ придёт сюда."
        ),
        "pending_customer": (
            "Мы ответили на обращение {reference} и ждём вашего ответа. Если нужно что-то "
            "ещё, напишите здесь."
        ),
        "no_conversation": (
            "Сейчас у вас нет открытых обращений. Напишите свой вопрос здесь, и мы ответим."
        ),
        "line_eta": "Сейчас ожидаемое время ответа: {eta}.",
        "line_busy": "Сейчас в очереди есть другие обращения; мы ответим, как только сможем.",
        "line_empty": "Сейчас очереди нет.",
        "less_than_a_minute": "меньше минуты",
        "rated": "Спасибо за оценку!",
        "not_rated": "Этот запрос оценки уже неактуален, но спасибо!",
        "file_too_large": (
            "К сожалению, мы не можем принять файл {name}: размер файла не должен "
            "превышать {limit}. Пришлите, пожалуйста, файл поменьше или ссылку на него."
        ),
    },
    # Worded for Brazil and Portugal alike, as the router's texts are.
    "pt": {
        "welcome": (
            "Olá! Este é o nosso apoio ao cliente. Escreva a sua pergunta aqui e vamos "
            "responder nesta conversa."
        ),
        "help": (
            "Basta escrever a sua pergunta aqui; também pode enviar fotos, documentos e "
            "mensagens de voz. Um atendente vai responder nesta conversa.\n\n"
            "/status - a sua posição na fila, ou quem está com o seu atendimento\n"
            "/help - esta mensagem"
        ),
        "queued": "O seu atendimento {reference} está na fila, na posição {position}.",
        "queued_eta": (
            "O seu atendimento {reference} está na fila, na posição {position}. Tempo "
            "estimado de resposta: {eta}."
        ),
        "in_line": (
            "O seu atendimento {reference} está na fila; vamos responder assim que possível."
        ),
        "assigned": "{agent} está com o seu atendimento {reference} e vai responder por aqui.",
        "assigned_anonymous": (
            "Um atendente está com o seu atendimento {reference} e vai responder por aqui."
        ),
        "pending_customer": (
            "Já respondemos ao seu atendimento {reference} e aguardamos o seu retorno. Se "
            "precisar de mais alguma coisa, escreva aqui."
        ),
        "no_conversation": (
            "Neste momento não tem nenhum atendimento aberto. Escreva a sua pergunta aqui e "
            "vamos responder."
        ),
        "line_eta": "Neste momento, o tempo estimado de resposta é de {eta}.",
        "line_busy": (
            "Há outros clientes na fila neste momento; vamos responder assim que possível."
        ),
        "line_empty": "Neste momento não há fila.",
        "less_than_a_minute": "menos de um minuto",
        "rated": "Obrigado pela sua avaliação!",
        "not_rated": "Este pedido de avaliação já expirou, mas obrigado!",
        "file_too_large": (
            "Desculpe, não foi possível receber {name}: os ficheiros podem ter no "
            "máximo {limit}. Pode enviar um ficheiro mais pequeno, ou um link para ele?"
        ),
    },
}


def language_of(code: str | None) -> str:
    """The language for a Telegram ``language_code`` ("pt-br" -> "pt"); English otherwise."""
    if not code:
        return DEFAULT
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else DEFAULT


def text(kind: str, language: str, **values: str) -> str:
    templates = _TEXTS.get(language, _TEXTS[DEFAULT])
    return templates[kind].format(**values)


def duration(seconds: float, language: str) -> str:
    """An expected wait in words, rounded up to the minute (the hour beyond 90 minutes)."""
    if seconds < 60:
        return text("less_than_a_minute", language)
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return format_timedelta(
            timedelta(minutes=minutes), threshold=1000, granularity="minute", locale=language
        )
    hours = math.ceil(minutes / 60)
    if hours < 48:
        return format_timedelta(
            timedelta(hours=hours), threshold=1000, granularity="hour", locale=language
        )
    return format_timedelta(
        timedelta(days=math.ceil(hours / 24)), threshold=1000, granularity="day", locale=language
    )


@dataclass(frozen=True, slots=True)
class Standing:
    """A customer's conversation as /status describes it."""

    reference: str
    state: str  # a ConversationStatus value
    position: int | None
    eta_seconds: float | None
    agent: str | None


def status_text(standing: Standing | None, language: str) -> str:
    if standing is None or standing.state == "resolved":
        return text("no_conversation", language)
    reference = standing.reference
    if standing.position is not None:
        if standing.eta_seconds is None:
            return text("queued", language, reference=reference, position=str(standing.position))
        return text(
            "queued_eta",
            language,
            reference=reference,
            position=str(standing.position),
            eta=duration(standing.eta_seconds, language),
        )
    if standing.state == "queued":
        return text("in_line", language, reference=reference)
    if standing.state == "pending_customer":
        return text("pending_customer", language, reference=reference)
    if standing.agent:
        return text("assigned", language, reference=reference, agent=standing.agent)
    return text("assigned_anonymous", language, reference=reference)


def line_text(waiting: int, eta_seconds: float | None, language: str) -> str:
    """The wait a newcomer can expect, from the live queue."""
    if eta_seconds is not None:
        return text("line_eta", language, eta=duration(eta_seconds, language))
    if waiting:
        return text("line_busy", language)
    return text("line_empty", language)
