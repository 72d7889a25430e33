"""The digest's pure parts: reading a node's answer, judging nodes, day-over-day changes, Block Kit
within Slack's limits, and the snapshots and jobs it keeps in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from status_config import minimal_config
from store_databases import Databases

from bot.config import Config, DigestConfig
from bot.integrations.node_facts import node_script, parse_df, parse_report
from bot.job_records import JobRecords
from bot.job_state import JobState
from bot.store import Store
from handlers.deploy import messages as deploy_messages
from handlers.status import messages as status_messages
from handlers.status.digest_blocks import summary_message, thread_messages
from handlers.status.digest_report import (
    NodeStatus,
    build_report,
    carry_forward,
    changes,
    judge_node,
)
from handlers.status.digest_store import DigestStore
from handlers.status.lab_facts import (
    BoardFacts,
    DiskUse,
    JobFacts,
    LabSnapshot,
    NodeFacts,
    PullFacts,
    RenovateFacts,
)
from labsim.slack.limits import validate_blocks

DAY0 = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
DAY1 = DAY0 + timedelta(days=1)
UTC_ZONE = ZoneInfo("UTC")
PATHS = ("/", "/var/lib/longhorn")
CONFIG = DigestConfig()

NODE_OUTPUT = """@@labbot@@version
{"configurationRevision":"48c51264779b","nixosVersion":"24.11.20250101.abcdef0","nixpkgsRevision":"abcdef01"}
@@labbot@@generations
[{"generation": 3, "date": "2026-01-10 06:04:34", "current": true},
 {"generation": 2, "date": "2026-01-03 06:04:34", "current": false}]
@@labbot@@boot_id
83d2cecb-48df-41f1-ac9c-c5657ee773ec
@@labbot@@uptime
7200.44 1.63
@@labbot@@load
0.08 0.05 0.01 1/187 4231
@@labbot@@state
degraded
@@labbot@@failed
k3s.service      loaded failed failed k3s service
● longhorn.mount loaded failed failed Longhorn
@@labbot@@df:/
Filesystem        1-blocks       Used   Available Capacity Mounted on
/dev/mmcblk0p2 31000000000 7130000000 23870000000      23% /
@@labbot@@df:/var/lib/longhorn
Filesystem         1-blocks        Used    Available Capacity Mounted on
/dev/sda1      480000000000 417600000000 62400000000      87% /var/lib/longhorn
@@labbot@@k3s
tp-node3   MemoryPressure,DiskPressure,PIDPressure,Ready   False,False,False,True           <none>
tp-node1   MemoryPressure,DiskPressure,PIDPressure,Ready   Unknown,Unknown,Unknown,Unknown   true
"""


def node(name: str = "tp-node3", **fields: object) -> NodeFacts:
    values: dict[str, object] = {
        "name": name,
        "board": "turingpi",
        "slot": 3,
        "k3s_role": "server",
        "power": True,
        "reachable": True,
        "nixos_version": "24.11.20250101.abcdef0",
        "generation": 41,
        "generation_date": DAY0 - timedelta(days=2),
        "boot_id": "boot-a",
        "uptime_seconds": 86400.0,
        "system_state": "running",
        "disks": (DiskUse(path="/", mount="/", size_bytes=10, used_bytes=2, used_percent=20),),
        "k3s_ready": True,
    }
    values.update(fields)
    return NodeFacts.model_validate(values)


def snapshot(when: datetime, *nodes: NodeFacts, **fields: object) -> LabSnapshot:
    return LabSnapshot.model_validate({"taken_at": when, "nodes": nodes, **fields})


def lab_config(**digest: object) -> Config:
    return minimal_config(digest=digest)


# --- reading a node's answer ---------------------------------------------------------------


def test_node_script_asks_everything_in_one_line() -> None:
    script = node_script(PATHS, k3s_server=True)
    assert "|" not in script and "\n" not in script
    for command in (
        "nixos-version --json",
        "nixos-rebuild list-generations --json",
        "df -P -B1 /var/lib/longhorn",
        "sudo -n kubectl get nodes --no-headers -o 'custom-columns=NAME:.metadata.name,",
        "sudo -n kubectl get pods --all-namespaces --no-headers -o 'custom-columns=",
        "readlink /run/booted-system/initrd",
    ):
        assert command in script
    assert "kubectl" not in node_script(PATHS, k3s_server=False)


def test_report_is_read_section_by_section() -> None:
    report = parse_report(NODE_OUTPUT, PATHS)
    assert report.nixos_version == "24.11.20250101.abcdef0"
    assert report.configuration_revision == "48c51264779b"
    assert report.generation == 3
    assert report.generation_date == datetime(2026, 1, 10, 6, 4, 34, tzinfo=UTC)
    assert report.boot_id == "83d2cecb-48df-41f1-ac9c-c5657ee773ec"
    assert report.uptime_seconds == pytest.approx(7200.44)
    assert report.load == (0.08, 0.05, 0.01)
    assert report.system_state == "degraded"
    assert report.failed_units == ("k3s.service", "longhorn.mount")
    assert [(d.path, d.used_percent, d.size_bytes) for d in report.disks] == [
        ("/", 23, 31_000_000_000),
        ("/var/lib/longhorn", 87, 480_000_000_000),
    ]
    assert report.k3s_ready == {"tp-node3": True, "tp-node1": False}
    assert report.missing == ()


def test_missing_sections_are_none_not_errors() -> None:
    report = parse_report("@@labbot@@version\nbash: nixos-version: command not found\n", PATHS)
    assert report.nixos_version is None and report.generation is None
    assert report.disks == () and report.k3s_ready is None
    assert "generations" in report.missing and "df:/" in report.missing


def test_df_without_capacity_column_computes_it_like_df() -> None:
    reading = parse_df(
        "/", "Filesystem 1-blocks Used Available Capacity Mounted on\n/d 100 41 59 x /"
    )
    assert reading is not None and reading.used_percent == 41
    assert parse_df("/", "garbage") is None


@given(st.text(max_size=400), st.lists(st.sampled_from(list(PATHS)), max_size=2))
def test_any_output_parses_without_raising(text: str, paths: list[str]) -> None:
    parse_report(text, paths)
    parse_report("\n".join(f"@@labbot@@{p}\n{text}" for p in ("version", "k3s", "df:/")), paths)


# --- judging nodes -------------------------------------------------------------------------


def test_each_state_gets_its_status_and_reason() -> None:
    def judge(facts: NodeFacts) -> tuple[NodeStatus, tuple[str, ...]]:
        verdict = judge_node(facts, CONFIG, DAY1, UTC_ZONE)
        return verdict.status, verdict.reasons

    assert judge(node()) == (NodeStatus.ok, ())
    assert judge(node(reachable=False, power=False, problem="connection refused")) == (
        NodeStatus.off,
        ("powered off (the BMC's record)",),
    )
    assert judge(node(reachable=False, problem="connection refused", unreachable_since=DAY0)) == (
        NodeStatus.critical,
        ("unreachable: connection refused (since Mon 12 Jan 07:00)",),
    )
    degraded = node(system_state="degraded", failed_units=("k3s.service",), k3s_ready=False)
    assert judge(degraded) == (
        NodeStatus.warning,
        ("degraded: `k3s.service` failed", "k3s node not Ready"),
    )
    full = DiskUse(
        path="/var/lib/longhorn",
        mount="/var/lib/longhorn",
        size_bytes=100,
        used_bytes=97,
        used_percent=97,
    )
    assert judge(node(disks=(full,))) == (NodeStatus.critical, ("`/var/lib/longhorn` 97 % full",))
    warn = full.model_copy(update={"used_percent": 86})
    assert judge(node(disks=(warn,)))[0] is NodeStatus.warning
    assert judge(node(reachable=False, deferred=True))[0] is NodeStatus.deferred


def test_unreachable_since_is_kept_from_the_first_digest_that_saw_it() -> None:
    down = node(reachable=False, problem="connection refused")
    first = carry_forward(None, snapshot(DAY0, down))
    assert first.nodes[0].unreachable_since == DAY0
    second = carry_forward(first, snapshot(DAY1, down))
    assert second.nodes[0].unreachable_since == DAY0
    back = carry_forward(second, snapshot(DAY1 + timedelta(days=1), node()))
    assert back.nodes[0].unreachable_since is None


# --- what changed --------------------------------------------------------------------------


def test_changes_name_reboot_generation_units_disk_and_reachability() -> None:
    longhorn = DiskUse(
        path="/var/lib/longhorn",
        mount="/var/lib/longhorn",
        size_bytes=100,
        used_bytes=80,
        used_percent=80,
    )
    before = snapshot(
        DAY0,
        node("tp-node1", disks=(longhorn,)),
        node("tp-node2"),
        node("tp-node3"),
        node("tp-node4", reachable=False, problem="connection refused"),
        node("tp-node5"),
    )
    after = snapshot(
        DAY1,
        node(
            "tp-node1",
            boot_id="boot-b",
            uptime_seconds=3600.0,
            generation=42,
            failed_units=("k3s.service",),
            disks=(longhorn.model_copy(update={"used_percent": 96}),),
            k3s_ready=False,
        ),
        node("tp-node2", reachable=False, power=False),
        node("tp-node3", reachable=False, problem="no answer over SSH within 20 s"),
        node("tp-node4"),
        node("tp-node6"),
    )
    assert list(changes(before, after, CONFIG)) == [
        "`tp-node1` rebooted (up 1 h)",
        "`tp-node1` generation 41 → 42, NixOS 24.11.20250101.abcdef0",
        "`tp-node1` new failed units: `k3s.service`",
        "`tp-node1` `/var/lib/longhorn` passed 95 % (now 96 %)",
        "`tp-node1` k3s node is no longer Ready",
        "`tp-node2` was powered off",
        "`tp-node3` became unreachable: no answer over SSH within 20 s",
        "`tp-node4` is reachable again",
        "`tp-node6` joined the inventory",
        "`tp-node5` left the inventory",
    ]
    assert list(changes(after, after, CONFIG)) == []


def test_a_status_of_one_node_does_not_report_the_others_as_gone() -> None:
    before = snapshot(DAY0, node("tp-node1"), node("tp-node3"))
    after = snapshot(DAY1, node("tp-node3", generation=42), partial=True)
    assert list(changes(before, after, CONFIG)) == [
        "`tp-node3` generation 41 → 42, NixOS 24.11.20250101.abcdef0"
    ]


# --- Block Kit -----------------------------------------------------------------------------


def test_a_big_troubled_lab_stays_within_slack_limits_with_attention_first() -> None:
    nodes = []
    for i in range(24):
        units = tuple(f"unit-{i}-{j}-with-a-rather-long-name.service" for j in range(8))
        nodes.append(
            node(f"tp-node{i:02d}", failed_units=units if i % 3 else (), generation=100 + i)
        )
    pulls = tuple(
        PullFacts(
            number=n,
            title="x" * 300,
            url=f"https://github.invalid/pr/{n}",
            ci="failing",
            created_at=DAY0,
        )
        for n in range(40)
    )
    jobs = tuple(
        JobFacts(
            id=n, kind="deploy", text="deploy all", state="failed", requester="U1", result="r" * 900
        )
        for n in range(60)
    )
    before = snapshot(
        DAY0,
        *(
            n.model_copy(update={"generation": 1, "boot_id": "x", "failed_units": ()})
            for n in nodes
        ),
    )
    current = snapshot(
        DAY1,
        *nodes,
        boards=(BoardFacts(name="turingpi", bmc="turingpi", problem="BMC turingpi is down"),),
        renovate=RenovateFacts(pulls=pulls),
        jobs=jobs,
    )
    report = build_report(before, current, lab_config())
    message = summary_message(report, title="Lab digest", zone=UTC_ZONE, late="late", hint="h")
    assert validate_blocks(message.blocks) is None
    assert len(message.blocks) <= 50
    assert len(report.changes or ()) == 24 * 2 + 16  # reboot, generation; new failed units
    assert "…and " in str(message.blocks)  # what did not fit is counted, not dropped silently
    text = "\n".join(str(b) for b in message.blocks)
    assert text.index("tp-node01") < text.index("tp-node00")  # degraded before healthy
    details = thread_messages(report, UTC_ZONE)
    assert all(validate_blocks(m.blocks) is None for m in details)
    shown = "\n".join(str(b) for m in details for b in m.blocks)
    assert all(f"*tp-node{i:02d}*" in shown for i in range(24))


def test_the_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        DigestConfig(disk_warn_percent=90, disk_critical_percent=80)


# --- the store -----------------------------------------------------------------------------


async def test_snapshots_round_trip_and_are_pruned(databases: Databases) -> None:
    store = await Store.open(databases.new())
    try:
        snapshots = DigestStore(store.sessions)
        assert await snapshots.latest() is None
        for day in range(4):
            await snapshots.save(snapshot(DAY0 + timedelta(days=day), node(generation=day)))
        latest = await snapshots.latest()
        assert latest is not None and latest.nodes[0].generation == 3
        assert latest.taken_at == DAY0 + timedelta(days=3)
        assert await snapshots.prune(keep=2) == 2
        assert await snapshots.count() == 2
    finally:
        await store.close()


async def test_recent_jobs_and_the_last_rotation_come_from_the_jobs_table(
    databases: Databases,
) -> None:
    store = await Store.open(databases.new())
    try:
        jobs = JobRecords(store.sessions)
        records = DigestStore(store.sessions)
        assert await records.last_succeeded(["sops-rotate"]) is None
        rotate = await jobs.create(
            kind="sops-rotate", text="sops rotate", requester="U1", channel_id="C1", targets=[]
        )
        await jobs.move(rotate.id, JobState.queued, JobState.running)
        await jobs.move(rotate.id, JobState.running, JobState.succeeded, result="PR #9 opened")
        deploy = await jobs.create(
            kind="deploy", text="deploy tp-node3", requester="U1", channel_id="C1", targets=[]
        )
        await jobs.move(deploy.id, JobState.queued, JobState.running)
        await jobs.move(deploy.id, JobState.running, JobState.failed, result="exit 1")
        last = await records.last_succeeded(["sops-rotate", "sops-remove-node"])
        assert last is not None and last.id == rotate.id and last.finished_at is not None
        recent = await records.jobs_finished_since(datetime.now(UTC) - timedelta(hours=24))
        assert [(j.kind, j.state) for j in recent] == [
            ("sops-rotate", "succeeded"),
            ("deploy", "failed"),
        ]
        assert await records.jobs_finished_since(datetime.now(UTC) + timedelta(hours=1)) == []
    finally:
        await store.close()


def test_the_deploy_line_counts_every_deploy_by_how_it_stands() -> None:
    line = status_messages.digest_deploys(5, {"succeeded": 3, "failed": 1, "running": 1})
    assert line == ":rocket: Last 24 h: 5 deploys or rollbacks: 3 succeeded, 1 failed, 1 running"
    one = status_messages.digest_deploys(1, {"interrupted": 1})
    assert one == ":rocket: Last 24 h: 1 deploy or rollback: 1 interrupted"


def test_nothing_to_deploy_agrees_with_the_number_of_nodes() -> None:
    assert deploy_messages.deploy_nothing_to_do(["tp-node3"]).startswith(
        "Nothing to deploy: `tp-node3` already runs exactly what colmena built, and passes"
    )
    assert " already run exactly what colmena built, and pass the health gate." in (
        deploy_messages.deploy_nothing_to_do(["tp-node1", "tp-node3"])
    )
