"""A rate limit (HTTP 429) shows on the Slack channel's health until a call to the same place
succeeds, or fades when nothing calls there again; setup problems stay in front."""

from __future__ import annotations

from bridge.ports import Health
from channels.slack.errors import LIMIT_SHOWN_SECONDS, Failure, HealthBoard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def started_board() -> tuple[HealthBoard, Clock]:
    clock = Clock()
    board = HealthBoard(clock)
    board.started("http, team T0")
    return board, clock


def test_a_429_degrades_until_the_same_place_succeeds() -> None:
    board, _ = started_board()
    board.limited("chat.postMessage", "C0SHARED", 3.0)
    state = board.state()
    assert state.health is Health.DEGRADED
    assert state.detail == (
        "rate limited by Slack on chat.postMessage C0SHARED (HTTP 429, Retry-After 3 s): "
        "messages wait and go out in order"
    )
    board.cleared("chat.postMessage", "C0OTHER")  # another channel's success says nothing
    assert board.state().health is Health.DEGRADED
    board.cleared("chat.postMessage", "C0SHARED")
    assert board.state().health is Health.OK
    assert board.state().detail == "http, team T0"


def test_a_429_nobody_retries_fades_after_a_while() -> None:
    board, clock = started_board()
    board.limited("users.info", None, 1.0)
    clock.now += 1.0 + LIMIT_SHOWN_SECONDS - 0.1
    assert board.state().health is Health.DEGRADED
    clock.now += 0.2
    assert board.state().health is Health.OK


def test_a_setup_problem_and_a_rate_limit_are_both_told() -> None:
    board, _ = started_board()
    board.report(Failure("setup", "not_in_channel", advice="invite the bot", channel="C0S"))
    board.limited("chat.postMessage", "C0SHARED", 1.0)
    state = board.state()
    assert state.health is Health.DEGRADED
    assert state.detail.startswith("invite the bot; rate limited by Slack on chat.postMessage")


def test_the_reason_a_delivery_waits_names_the_rate_limit() -> None:
    error = Failure("ratelimited", "ratelimited", 30.0).as_channel_error()
    assert str(error) == "rate limited by Slack (HTTP 429): retry after 30 s"
