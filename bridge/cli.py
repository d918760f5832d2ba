"""The ``bridge`` command line (also ``python -m bridge``).

Argument parsing lives here; the commands themselves are in the composition root
(:mod:`runtime.commands`), the only module allowed to know every layer.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

ROLES = ("agent", "supervisor", "admin")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not EMAIL.match(value) or len(value) > 320:
        raise argparse.ArgumentTypeError(f"not an email address: {value!r}")
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="bridge", description="The omnichannel support bridge.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config", metavar="PATH", help="TOML settings file (default: $BRIDGE_CONFIG)"
        )
        return sub

    command("serve", "run every configured channel, the inbox and the API")
    command("migrate", "bring the database schema up to date")
    command("check-config", "validate the settings and say what is wrong")
    agent = commands.add_parser("agent", help="manage agents")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    add = agent_commands.add_parser("add", help="add an agent and print their API token")
    add.add_argument("--config", metavar="PATH", help="TOML settings file")
    add.add_argument("name")
    add.add_argument("--email", required=True, type=_email)
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--tier", type=_positive, default=1)
    add.add_argument("--capacity", type=_positive, default=None)
    add.add_argument("--team", action="append", dest="teams", metavar="TEAM")
    add.add_argument("--slack-user", metavar="U", default=None)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password for the inbox's sign-in from standard input",
    )
    password = agent_commands.add_parser(
        "password", help="set an agent's password for the inbox (asks, or reads stdin)"
    )
    password.add_argument("--config", metavar="PATH", help="TOML settings file")
    password.add_argument("email", type=_email)
    queue = command("queue", "show the live queue and the agents in the terminal")
    queue.add_argument("--watch", action="store_true", help="refresh in place until Ctrl+C")
    queue.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="seconds between refreshes"
    )
    queue.add_argument("--count", type=_positive, default=None, help=argparse.SUPPRESS)
    email = commands.add_parser("email", help="the email channel")
    email_commands = email.add_subparsers(dest="email_command", required=True, metavar="ACTION")
    imported = email_commands.add_parser(
        "import",
        help="load an existing mailbox (threads rebuilt, nothing sent)",
        description="load an existing mailbox over IMAP: threads rebuilt, nothing sent",
    )
    imported.add_argument("--config", metavar="PATH", help="TOML settings file")
    imported.add_argument(
        "--mailbox", default=None, help="IMAP folder (default: channels.email.mailbox)"
    )
    imported.add_argument("--quiet", action="store_true", help="no progress line")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from runtime import commands

    if args.command == "serve":
        return commands.serve(args.config)
    if args.command == "migrate":
        return commands.migrate(args.config)
    if args.command == "check-config":
        return commands.check_config(args.config)
    if args.command == "agent" and args.agent_command == "add":
        return commands.agent_add(
            args.config,
            name=args.name,
            email=args.email,
            role=args.role,
            tier=args.tier,
            capacity=args.capacity,
            teams=args.teams,
            slack_user=args.slack_user,
            password_stdin=args.password_stdin,
        )
    if args.command == "agent" and args.agent_command == "password":
        return commands.agent_password(args.config, email=args.email)
    if args.command == "queue":
        return commands.queue(
            args.config, watch=args.watch, interval=args.interval, count=args.count
        )
    if args.command == "email" and args.email_command == "import":
        return commands.email_import(args.config, mailbox=args.mailbox, quiet=args.quiet)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects the rest


if __name__ == "__main__":
    sys.exit(main())
