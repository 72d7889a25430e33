"""A terminal client of the Slack emulator: type `/lab …`, watch the channel and threads, press buttons.

Talks to the emulator exactly like a Slack user (slash commands and clicks over Socket Mode).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from labsim.slack import Button, HomeView, Message, SlackEmulator

HELP = """\
Type a slash command as a Slack user would, e.g. `/lab help` or `/lab deploy tp-node3`.
  N or :press N     press button number N (buttons are listed as [N] under messages)
  :as ROLE          act as another user: admin, admin2, operator, operator2, viewer, stranger
  :buttons          list the buttons you can press now
  :digest           run the nightly digest now, as its schedule would
  :home             open labbot's Home tab (the lab at a glance) and show it
  :help             this text        :quit   stop the demo (Ctrl-D works too)"""


@dataclass
class _Seen:
    versions: dict[str, int] = field(default_factory=dict)  # message ts → versions printed
    texts: dict[str, str] = field(default_factory=dict)
    ephemerals: dict[str, int] = field(default_factory=dict)  # user → ephemerals printed
    files: int = 0


class SlackTerminal:
    """Prints what happens in one channel and lets the person at the keyboard act in it."""

    def __init__(
        self,
        slack: SlackEmulator,
        channel: str,
        users: dict[str, str],
        user: str,
        out: TextIO = sys.stdout,
        read_line: Callable[[], str] | None = None,
        extra: dict[str, Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self._extra = dict(extra or {})
        self._names = {user_id: role for role, user_id in users.items()}
        self._slack = slack
        self._channel = channel
        self._users = users
        self._user = users[user]
        self._role = user
        self._out = out
        self._read_line = read_line or sys.stdin.readline
        self._seen = _Seen()
        # Stable numbers: a button keeps its number while it is shown; numbers are not reused.
        self._buttons: dict[int, tuple[Message, Button]] = {}
        self._numbers: dict[tuple[str, str, str | None], int] = {}

    def _print(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    async def run(self) -> None:
        """Show the help, then read commands until :quit or end of input."""
        self._print(HELP)
        self._print(f"You are {self._role} ({self._user}) in #lab.")
        watcher = asyncio.create_task(self._watch(), name="terminal watcher")
        try:
            while True:
                self._out.write(f"{self._role}> ")
                self._out.flush()
                line = await asyncio.get_running_loop().run_in_executor(None, self._read_line)
                if not line:
                    break
                if not await self._handle(line.strip()):
                    break
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _handle(self, line: str) -> bool:
        if not line:
            return True
        if line in (":quit", ":q", "exit"):
            return False
        if line == ":help":
            self._print(HELP)
        elif line in self._extra:
            await self._extra[line]()
        elif line == ":buttons":
            self._list_buttons()
        elif line == ":home":
            await self._open_home()
        elif line.startswith(":as"):
            role = line[3:].strip()
            if role in self._users:
                self._role, self._user = role, self._users[role]
                self._print(f"You are now {role} ({self._user}).")
            else:
                self._print(f"Unknown role {role!r}; one of: {', '.join(self._users)}")
        elif line.isdigit() or line.startswith(":press"):
            await self._press(int(line.removeprefix(":press").strip() or 0))
        elif line.startswith("/"):
            command, _, text = line.partition(" ")
            await self._slack.user(self._user).slash(text, channel=self._channel, command=command)
        else:
            self._print("Commands start with / (try /lab help); :help lists the rest.")
        await self._settle()
        if self._has_news():
            self._show_changes()
        return True

    async def _settle(self) -> None:
        # Give the bot a moment to answer before the prompt comes back.
        try:
            await self._slack.wait_for(lambda: self._has_news(), timeout=1.5)
        except TimeoutError:
            return

    def _has_news(self) -> bool:
        return len(self._slack.ephemerals(self._user)) > self._seen.ephemerals.get(self._user, 0)

    async def _press(self, number: int) -> None:
        if number not in self._buttons:
            self._print("No such button; :buttons lists them.")
            return
        message, button = self._buttons[number]
        try:
            current = self._slack.message(message.channel, message.ts)
            await self._slack.user(self._user).click(current, button.action_id)
        except (KeyError, LookupError):
            self._print("That button is gone (the message changed).")

    async def _watch(self) -> None:
        while True:
            await self._slack.wait_for(self._changed, timeout=3600)
            self._show_changes()

    def _changed(self) -> bool:
        messages = self._slack.messages(self._channel)
        if any(self._seen.versions.get(m.ts) != m.updates + 1 for m in messages):
            return True
        if len(self._slack.files()) > self._seen.files:
            return True
        return self._has_news()

    def _show_changes(self) -> None:
        self._out.write("\r")
        for message in self._slack.messages(self._channel):
            version = message.updates + 1
            if self._seen.versions.get(message.ts) == version:
                continue
            previous = self._seen.texts.get(message.ts)
            self._seen.versions[message.ts] = version
            self._show_message(message, previous)
        for file in self._slack.files()[self._seen.files :]:
            self._print(f"  │ 📎 {file.title or file.filename} ({len(file.content)} bytes)")
        self._seen.files = len(self._slack.files())
        seen = self._seen.ephemerals.get(self._user, 0)
        for ephemeral in self._slack.ephemerals(self._user)[seen:]:
            self._print(
                _indent(_render(ephemeral.text, ephemeral.blocks, self._names), "(only you) ")
            )
        self._seen.ephemerals[self._user] = len(self._slack.ephemerals(self._user))
        self._refresh_buttons()

    def _show_message(self, message: Message, previous: str | None) -> None:
        text = _render(message.text, message.blocks, self._names)
        self._seen.texts[message.ts] = text
        prefix = "  │ " if message.thread_ts else ""
        if previous is not None:
            old = previous.splitlines()
            new_lines = [line for line in text.splitlines() if line not in old]
            if not new_lines:
                return
            text = "\n".join(new_lines)
        self._print(_indent(text, prefix))
        for button in message.buttons():
            key = (message.ts, button.action_id, button.value)
            if key not in self._numbers:
                self._numbers[key] = len(self._numbers) + 1
            number = self._numbers[key]
            self._buttons[number] = (message, button)
            self._print(f"{prefix}  [{number}] {button.text}")

    def _refresh_buttons(self) -> None:
        for number, (message, button) in list(self._buttons.items()):
            current = self._slack.message(message.channel, message.ts)
            if not any(
                b.action_id == button.action_id and b.value == button.value
                for b in current.buttons()
            ):
                del self._buttons[number]

    async def _open_home(self) -> None:
        """Open the Home tab as Slack's sidebar does (app_home_opened), then print the view
        labbot publishes in answer: its buttons are links, shown with where they go."""
        shown = self._slack.home_view(self._user)
        before = shown.publishes if shown is not None else 0

        def published() -> HomeView | None:
            view = self._slack.home_view(self._user)
            return view if view is not None and view.publishes > before else None

        await self._slack.user(self._user).open_home()
        try:
            view = await self._slack.wait_for(published, timeout=5)
        except TimeoutError:
            self._print("labbot published no Home tab (is it connected?).")
            return
        self._print(_indent(_render("", view.blocks, self._names), "  ⌂ "))
        for button in view.buttons():
            self._print(f"  ⌂   [{button.text}] {button.url or ''}".rstrip())

    def _list_buttons(self) -> None:
        if not self._buttons:
            self._print("No buttons to press right now.")
        for number, (message, button) in sorted(self._buttons.items()):
            first = message.text.splitlines()[0] if message.text else ""
            self._print(f"[{number}] {button.text}  — {first[:60]}")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# Slack's markup in message text (docs.slack.dev, "Formatting text for app surfaces"):
# <@U123> user, <#C123|name> channel, <!subteam^S123|@group>, <!here>, <!date^TS^{fmt}|fallback>,
# <https://…|label> link. What outside text holds arrives escaped (&lt; …) and stays literal.
_MARKUP = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def as_seen(text: str, names: Mapping[str, str]) -> str:
    """Slack markup as a person sees it in the client (dates by their fallback, mentions by
    name, links by label and address), then the escaped characters shown as themselves."""

    def one(found: re.Match[str]) -> str:
        target, label = found.group(1), found.group(2)
        if target.startswith("!date^"):
            return label or target
        if target.startswith("@"):
            return "@" + names.get(target[1:], label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label else target

    shown = _MARKUP.sub(one, text)
    # Slack shows &lt; &gt; &amp; (escaped so output cannot mention anyone) as the characters.
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _render(text: str, blocks: list[dict[str, object]], names: Mapping[str, str]) -> str:
    """A message as a person sees it: the blocks' text, or the plain text without blocks."""
    parts: list[str] = []
    for block in blocks:
        inner = block.get("text")
        if isinstance(inner, dict):
            parts.append(str(inner.get("text", "")))
        elements = block.get("elements")
        if block.get("type") == "context" and isinstance(elements, list):
            parts.extend(str(e.get("text", "")) for e in elements if isinstance(e, dict))
    return as_seen("\n".join(parts) if parts else text, names)
