"""Outside text in the digest, `/lab status`, `/lab nodes` and the Home tab: whatever a node's
SSH server, GitHub, the BMC or colmena says, it is shown escaped once and never pings anyone.

The "problem" sentences are stored in the digest's snapshot (JSON) and read back, so they must be
escaped where they are built, not where they are shown.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncssh
import pytest
from deploylab import TWO_NODES, deploy_lab, sim_node
from jobflow import ask
from test_home import open_home

import bot.integrations.github as github_client
from bot.integrations.github import GitHubTuning
from bot.redact import escape_mrkdwn
from labsim.colmena.knobs import KNOB_FILE
from labsim.lab import LAB_CHANNEL, Lab
from labsim.nodes import SimNode
from labsim.nodes.node import HOST_KEY

HOSTILE = "<!channel> <@U123> <https://evil|x> &"
ESCAPED = escape_mrkdwn(HOSTILE)  # &lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|x&gt; &amp;
RAW = ("<!channel>", "<@U123>", "<https://evil|x>")
FAST_GITHUB = GitHubTuning(seconds_between_requests=0, seconds_between_writes=0, retries=1)


def inert(text: str) -> None:
    """No mention or link of the hostile text, and nothing escaped twice."""
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached Slack raw:\n{text}"
    assert "&amp;lt;" not in text and "&amp;amp;" not in text, f"escaped twice:\n{text}"


def lines_with(text: str, words: str) -> Iterator[str]:
    return (line for line in text.splitlines() if words in line)


class _HostileSshd(asyncssh.SSHServer):
    """An SSH server that ends every login with its own words: the description of
    SSH_MSG_DISCONNECT is free text of the server's (RFC 4253 §11.1), which asyncssh's
    DisconnectError carries as its message (ronf/asyncssh asyncssh/connection.py)."""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        self._conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, f"too many sessions {HOSTILE}")
        return True


@asynccontextmanager
async def hostile_sshd(node: SimNode) -> AsyncIterator[None]:
    """The node's sshd replaced by `_HostileSshd` on the same address, with the node's host
    key (so labbot's known_hosts check passes and the words come after key exchange)."""
    await node.ssh_down()
    key = asyncssh.read_private_key(node.state_dir / HOST_KEY)
    server = await asyncssh.create_server(
        _HostileSshd, "127.0.0.1", node.port, server_host_keys=[key], reuse_address=True
    )
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def posted_since(lab: Lab, count: int) -> str:
    """Every message (summaries and thread replies) posted in the lab channel after the first
    `count` ones."""
    return "\n".join(m.all_text() for m in lab.slack.messages(LAB_CHANNEL)[count:])


@pytest.fixture
def fast_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST_GITHUB)


@pytest.mark.usefixtures("fast_github")
async def test_what_ssh_github_the_bmc_and_colmena_say_is_escaped_once_everywhere() -> None:
    async with deploy_lab(TWO_NODES) as (lab, _bot):
        assert lab.bmc is not None and lab.github is not None
        await ask(lab, lab.users.admin, "digest")  # reachable, so the next one sees a change
        before = len(lab.slack.messages(LAB_CHANNEL))

        lab.github.inject_status("GET", r"/pulls$", 422, count=50, body={"message": HOSTILE})
        lab.bmc.fail_reads("power", f"Failed to read power: {HOSTILE}", count=50)
        # colmena's own words: the evaluation's error lines stay in its log, not in the sentence.
        (lab.flake_dir / KNOB_FILE).write_text(json.dumps({"fail_eval": f"error: {HOSTILE}"}))
        async with hostile_sshd(sim_node(lab, "tp-node1")):
            answer = await ask(lab, lab.users.admin, "digest")
            assert answer.text.startswith("Posted the digest")
            digest = posted_since(lab, before)
            status = (await ask(lab, lab.users.viewer, "status")).all_text()
            nodes = (await ask(lab, lab.users.viewer, "nodes")).all_text()
            home = (await open_home(lab, lab.users.admin)).all_text()

        for text in (digest, status):
            [unreachable] = lines_with(text, "*tp-node1* · ")
            assert f"unreachable: too many sessions {ESCAPED}" in unreachable
            assert any(ESCAPED in line for line in lines_with(text, "Renovate PRs unknown: "))
            assert any(ESCAPED in line for line in lines_with(text, "refused to read the power"))
            assert any(lines_with(text, "Drift unknown: "))
            inert(text)
        # The thread's details: the board's BMC and each node's power record.
        assert any(ESCAPED in line for line in lines_with(digest, "BMC: unknown ("))
        assert f"`tp-node1` became unreachable: too many sessions {ESCAPED}" in digest
        [ssh] = lines_with(nodes, "*tp-node1*")
        assert f"SSH: too many sessions {ESCAPED}" in ssh
        inert(nodes)
        assert any(ESCAPED in line for line in lines_with(home, "Renovate PRs unknown: "))
        assert any(ESCAPED in line for line in lines_with(home, "refused to read the power"))
        inert(home)
