"""The Home tab's blocks: what each role sees, outside text made inert, lists capped within a
view's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from status_config import minimal_config

from bot.config import Role
from bot.job_state import Job, JobState
from bot.policy import Actor
from bot.redact import escape_mrkdwn
from handlers.status.digest_report import build_report
from handlers.status.home_blocks import (
    MAX_APPROVAL_BUTTONS,
    MAX_JOBS,
    MAX_PULLS,
    HomeContent,
    HomeJob,
    home_view,
)
from handlers.status.lab_facts import (
    BoardFacts,
    DriftFacts,
    DriftNode,
    LabSnapshot,
    NodeFacts,
    PullFacts,
    RenovateFacts,
)
from labsim.slack.limits import MAX_VIEW_BLOCKS, find_block_problem
from labsim.slack.records import HomeView

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
HOSTILE = "<!channel> <@U0ADMIN001> <https://evil.example|click>"
SAID = escape_mrkdwn(HOSTILE)  # outside text in a stored problem sentence
CONFIG = minimal_config()
JOB = Job(
    id=7,
    kind="deploy",
    text="deploy tp-node3",
    requester="U0OPER0001",
    channel_id="C0LAB00001",
    thread_ts="1.0",
    targets=("node:tp-node3",),
    state=JobState.awaiting_approval,
    payload={},
    result="",
    log_path="",
    cancel_token="",
    created_at=NOW,
    started_at=None,
    finished_at=None,
)
LINK = "https://lab.slack.com/archives/C0LAB00001/p2000?thread_ts=1.0"


def node(name: str, **fields: object) -> NodeFacts:
    values: dict[str, object] = {
        "name": name,
        "board": "turingpi",
        "slot": 1,
        "k3s_role": "agent",
        "power": True,
        "reachable": True,
        "generation": 41,
        "system_state": "running",
        "k3s_ready": True,
    }
    return NodeFacts.model_validate({**values, **fields})


def content(pulls: int = 1, jobs: tuple[HomeJob, ...] = ()) -> HomeContent:
    snapshot = LabSnapshot(
        taken_at=NOW - timedelta(hours=1),
        nodes=(node("tp-node1"), node("tp-node2", reachable=False, power=False)),
        renovate=RenovateFacts(
            pulls=tuple(
                PullFacts(
                    number=i,
                    title=f"Update {HOSTILE}",
                    url=f"https://github.com/lab/infra/pull/{i}",
                    ci="green",
                    created_at=NOW,
                )
                for i in range(1, pulls + 1)
            )
        ),
    )
    return HomeContent(build_report(None, snapshot, CONFIG), jobs, NOW, "/lab")


def shown(blocks: list[dict[str, Any]]) -> HomeView:
    view = HomeView(user="U1", id="V1", hash="h", blocks=blocks, published_at=0.0)
    problem = find_block_problem(
        blocks, max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks", text_limit=None
    )
    assert problem is None, problem
    return view


def test_nodes_and_the_digest_verdict_as_the_last_digest_found_them() -> None:
    text = shown(home_view(content(), Actor("U1", Role.viewer), ZONE)).all_text()
    assert "*Last digest:* Mon 07 Dec 07:00: :warning: 1 of 2 nodes need attention (1 off)" in text
    assert "*tp-node1* · power on · reachable · generation 41 · k3s Ready" in text
    assert ":black_circle: *tp-node2* · power off · unreachable · generation 41" in text
    assert "reboot pending" not in text and "Drift" not in text


def test_a_pending_reboot_and_drift_from_the_last_build_are_shown() -> None:
    base = content()
    assert base.report is not None
    drift = DriftFacts(
        revision="abcdef1234567890",
        built={"tp-node1": "/nix/store/x"},
        built_at=NOW,
        nodes=(
            DriftNode(
                name="tp-node1",
                running_revision="1234567aaaa",
                behind=2,
                commits=(f"abcdef1 Update {HOSTILE}",),
            ),
        ),
    )
    snapshot = base.report.snapshot.model_copy(
        update={"nodes": (node("tp-node1", reboot_pending=("initrd",)),), "drift": drift}
    )
    report = build_report(None, snapshot, CONFIG)
    text = shown(home_view(replace(base, report=report), Actor("U1", Role.viewer), ZONE)).all_text()
    assert "*tp-node1* · power on · reachable · generation 41 · k3s Ready" in text
    assert ":arrows_counterclockwise: reboot pending" in text
    assert "*Drift* (as the last digest found it)" in text
    assert "Drift: *tp-node1* runs `1234567`, 2 commits behind `abcdef1`" in text
    assert "<!channel>" not in text and "&amp;lt;" not in text


def test_lab_wide_problems_are_listed_and_inert() -> None:
    base = content()
    assert base.report is not None
    snapshot = base.report.snapshot.model_copy(
        update={
            "nodes": (node("tp-node1"),),
            # As the collector stores it: the BMC's words escaped where the sentence was built.
            "boards": (BoardFacts(name="turingpi", bmc="turingpi", problem=f"BMC said {SAID}"),),
        }
    )
    bad_ci = PullFacts(
        number=9, title=HOSTILE, url="https://x.example/9", ci="failing", created_at=NOW
    )
    snapshot = snapshot.model_copy(update={"renovate": RenovateFacts(pulls=(bad_ci,))})
    report = build_report(None, snapshot, CONFIG)
    text = shown(home_view(replace(base, report=report), Actor("U1", Role.viewer), ZONE)).all_text()
    assert ":warning: the one node ok; 2 lab-wide problems" in text
    assert "• BMC `turingpi`: BMC said &lt;!channel&gt;" in text
    assert "• Renovate PR #9 (&lt;!channel&gt; &lt;@U0ADMIN001&gt;" in text  # escaped once
    assert "<!channel>" not in text and "&amp;lt;" not in text


def test_outside_text_is_inert_and_only_safe_links_are_links() -> None:
    hostile_job = replace(JOB, text=f"deploy {HOSTILE}")
    odd = content()
    assert odd.report is not None and odd.report.snapshot.renovate is not None
    bad_url = odd.report.snapshot.renovate.pulls[0].model_copy(update={"url": "javascript:x|y>"})
    snapshot = odd.report.snapshot.model_copy(update={"renovate": RenovateFacts(pulls=(bad_url,))})
    odd = replace(odd, report=replace(odd.report, snapshot=snapshot), jobs=(HomeJob(hostile_job),))
    text = shown(home_view(odd, Actor("U1", Role.admin), ZONE)).all_text()
    assert "<!channel>" not in text and "<@U0ADMIN001>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text
    assert "• #1 Update &lt;!channel&gt;" in text  # no <url|#1> for a URL that is not http(s)


def test_approve_buttons_only_for_who_may_approve() -> None:
    waiting = HomeJob(JOB, Role.operator, LINK)
    four_eyes = HomeJob(replace(JOB, id=8), Role.operator, LINK + "8", four_eyes=True)
    jobs = content(jobs=(waiting, four_eyes))

    def buttons(actor: Actor) -> list[str]:
        return [b.url or "" for b in shown(home_view(jobs, actor, ZONE)).buttons()]

    assert buttons(Actor("U0VIEW0001", Role.viewer)) == []
    assert buttons(Actor(JOB.requester, Role.operator)) == [LINK]  # not their own four-eyes job
    assert buttons(Actor("U0ADMIN001", Role.admin)) == [LINK, LINK + "8"]


def test_no_role_sees_nothing_of_the_lab() -> None:
    view = shown(
        home_view(content(jobs=(HomeJob(JOB, Role.operator, LINK),)), Actor("U9", None), ZONE)
    )
    assert "You hold no labbot role" in view.all_text()
    assert "tp-node" not in view.all_text() and "deploy" not in view.all_text()
    assert view.buttons() == []


def test_long_lists_are_capped_and_counted_within_a_views_blocks() -> None:
    jobs = tuple(HomeJob(replace(JOB, id=i), Role.viewer, f"{LINK}{i}") for i in range(40))
    view = shown(home_view(content(pulls=60, jobs=jobs), Actor("U1", Role.admin), ZONE))
    text = view.all_text()
    assert f"…and {40 - MAX_JOBS} more (`/lab jobs`)" in text
    assert f"…and {60 - MAX_PULLS} more" in text and "*Renovate PRs* (60 open)" in text
    assert len(view.buttons()) == MAX_APPROVAL_BUTTONS


def test_renovate_unwatched_or_unreadable_says_so() -> None:
    base = content()
    assert base.report is not None
    for renovate, words in (
        (RenovateFacts(configured=False), "not watched"),
        (
            RenovateFacts(problem=f"GitHub said {SAID}"),
            "could not read them: GitHub said &lt;!channel&gt;",
        ),
    ):
        snapshot = base.report.snapshot.model_copy(update={"renovate": renovate})
        changed = replace(base, report=replace(base.report, snapshot=snapshot))
        assert words in shown(home_view(changed, Actor("U1", Role.viewer), ZONE)).all_text()


def test_before_the_first_digest_the_tab_says_how_to_get_one() -> None:
    empty = HomeContent(None, (), NOW, "/lab")
    text = shown(home_view(empty, Actor("U1", Role.viewer), ZONE)).all_text()
    assert "*Last digest:* none yet" in text and "`/lab digest` runs it now" in text
    assert "*Jobs:* none running, queued or awaiting approval." in text
