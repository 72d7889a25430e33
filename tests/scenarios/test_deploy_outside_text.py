"""Outside text in deploy, rollback and secrets replies: a node's own words in an SSH error are
shown escaped once (`bot.errors`: an error's text is raw, the message escapes it)."""

from __future__ import annotations

from deploylab import deploy_lab, sim_node
from jobflow import start, wait_final
from test_status_outside_text import ESCAPED, hostile_sshd, inert


async def test_a_deploy_whose_node_hangs_up_with_its_own_words_shows_them_escaped() -> None:
    async with deploy_lab() as (lab, _bot):
        async with hostile_sshd(sim_node(lab, "tp-node3")):
            job_id = await start(lab, lab.users.operator, "deploy tp-node3")
            text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        assert "Nothing was deployed: " in text and f"too many sessions {ESCAPED}" in text
        assert "`/lab power tp-node3 on` starts it" in text  # labbot's hint, kept as mrkdwn
        inert(text)


async def test_a_rollback_whose_node_hangs_up_with_its_own_words_shows_them_escaped() -> None:
    async with deploy_lab() as (lab, _bot):
        async with hostile_sshd(sim_node(lab, "tp-node3")):
            job_id = await start(lab, lab.users.operator, "rollback tp-node3")
            text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        assert "Nothing was changed: " in text and f"too many sessions {ESCAPED}" in text
        inert(text)
