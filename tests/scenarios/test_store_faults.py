"""The database failing under labbot: refused writes, a server restart, a file system that turns
read-only. A request is answered and runs nothing; a job's verdict is the lab's; what was
committed stays; locks are freed once the store takes writes again.

The SQLite faults run twice: on a real ext4 made to fail where the machine allows loop mounts
(root, as in CI), and injected at the SQLAlchemy layer everywhere (`sqlite_writes_refused`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from deploylab import deploy_lab, sim_node
from exercise import EXERCISE_CAPABILITIES
from jobflow import (
    BotProcesses,
    approval_message,
    ask,
    press,
    root_of,
    start,
    thread_text,
    wait_final,
)
from loop_filesystem import LoopFilesystem, Unavailable
from prometheus_client import generate_latest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from store_databases import Databases, PostgresServer

from bot import messages
from bot.app import LabBot
from bot.replica import HEARTBEAT
from labsim.colmena.knobs import KNOB_FILE
from labsim.lab import Lab


@pytest.fixture
async def pg(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Databases]:
    databases = Databases("postgresql", tmp_path, postgres_server)
    yield databases
    databases.drop_all()


def refuse_writes(server: PostgresServer, database: str, refuse: bool) -> None:
    """As a full disk looks from the bot: reads answered, every write refused (new sessions;
    the bot's current ones are ended, as a database restart would)."""
    with server.admin() as admin:
        setting = "on" if refuse else "off"
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {setting}')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


async def test_a_command_while_the_database_refuses_writes_is_answered_and_runs_nothing(
    pg: Databases, postgres_server: PostgresServer
) -> None:
    url = pg.new()
    database = pg.created[-1]
    health = {"enabled": True, "host": "127.0.0.1", "port": 0}
    async with Lab(config_overrides={"storage": {"database_url": url}, "health": health}) as lab:
        async with LabBot(lab.config(), EXERCISE_CAPABILITIES) as bot:
            await lab.slack.wait_connected()
            assert bot.health is not None
            base = f"http://127.0.0.1:{bot.health.port}"
            refuse_writes(postgres_server, database, True)
            answer = await ask(lab, lab.users.operator, "exercise now 1")
            assert answer.text == messages.store_unavailable(f"{bot.store.location} is read-only")
            assert f"/{database} is read-only" in answer.text
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/healthz") as response:
                    assert response.status == 503  # it reads, but does not take writes
                    body = await response.json()
                    assert body["database_reachable"] and not body["database_writable"]
                async with http.get(f"{base}/metrics") as response:
                    assert 'labbot_store_errors_total{kind="read_only"}' in await response.text()
            refuse_writes(postgres_server, database, False)
            assert await bot.store.writable()
            job_id = await start(lab, lab.users.operator, "exercise now 1")
            assert job_id == 1  # the refused command started nothing
            await wait_final(lab, job_id, f"Job {job_id} succeeded")


async def deploy_held_in_the_gate(lab: Lab) -> int:
    """Start and approve `deploy tp-node3`, its health gate held waiting for k3s Ready."""
    job_id = await start(lab, lab.users.operator, "deploy tp-node3")
    approval = await approval_message(lab, job_id)
    sim_node(lab, "tp-node3").set_k3s_ready(False)
    await press(lab, lab.users.operator2, approval, "labbot:approve")
    await wait_final(lab, job_id, "tp-node3: waiting: k3s node tp-node3 is not Ready", 60)
    return job_id


async def recorded_and_unlocked(lab: Lab, job_id: int) -> None:
    """The job's end is in the store (its root says so) and its node's lock is free."""
    await lab.slack.wait_for(
        lambda: root_of(lab, job_id).text.endswith(": succeeded"), timeout=HEARTBEAT + 40
    )
    detail = await ask(lab, lab.users.viewer, f"job {job_id}")
    assert "succeeded" in detail.text
    again = await start(lab, lab.users.operator, "deploy tp-node3")
    assert "Nothing to deploy" in await wait_final(lab, again, f"Job {again} succeeded", 60)


async def test_a_deploy_ending_while_writes_are_refused_says_the_labs_verdict_and_records_it_later(
    pg: Databases, postgres_server: PostgresServer
) -> None:
    url = pg.new()
    database = pg.created[-1]
    async with deploy_lab(storage={"database_url": url}) as (lab, bot):
        job_id = await deploy_held_in_the_gate(lab)
        refuse_writes(postgres_server, database, True)
        sim_node(lab, "tp-node3").set_k3s_ready(True)  # the gate passes: the deploy ends
        text = await wait_final(lab, job_id, "is not in its database yet", timeout=60)
        assert f"Job {job_id} succeeded" in text
        assert f"labbot can't write its records ({bot.store.location} is read-only)" in text
        assert "`tp-node3` stays locked until then." in text
        assert "went wrong inside labbot" not in text
        refuse_writes(postgres_server, database, False)
        await recorded_and_unlocked(lab, job_id)


async def test_postgresql_down_when_a_deploy_ends_leaves_the_verdict_to_the_lab(
    pg: Databases, postgres_server: PostgresServer
) -> None:
    url = pg.new()
    async with deploy_lab(storage={"database_url": url}) as (lab, _bot):
        job_id = await deploy_held_in_the_gate(lab)
        postgres_server.stop_server()  # as a crash or an upgrade's restart would
        try:
            sim_node(lab, "tp-node3").set_k3s_ready(True)
            text = await wait_final(lab, job_id, "is not in its database yet", timeout=60)
        finally:
            postgres_server.start_server()
        assert f"Job {job_id} succeeded" in text
        assert "is not reachable" in text and "went wrong inside labbot" not in text
        await recorded_and_unlocked(lab, job_id)
        assert sim_node(lab, "tp-node3").current_generation() == 4


async def test_postgresql_restarting_during_a_deploy_changes_nothing_it_says(
    pg: Databases, postgres_server: PostgresServer
) -> None:
    url = pg.new()
    async with deploy_lab(storage={"database_url": url}) as (lab, _bot):
        job_id = await deploy_held_in_the_gate(lab)
        postgres_server.stop_server()
        postgres_server.start_server()  # every pooled connection is now a dead one
        sim_node(lab, "tp-node3").set_k3s_ready(True)
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        assert "labbot can't write its records" not in text
        await lab.slack.wait_for(lambda: root_of(lab, job_id).text.endswith(": succeeded"), 40)


_WRITES = {"INSERT", "UPDATE", "DELETE", "REPLACE"}


@contextlib.contextmanager
def sqlite_writes_refused(database: Path, code_name: str, message: str) -> Iterator[None]:
    """Every write to the SQLite file `database`, from any engine in this process, fails as
    SQLite fails it (`code_name`, e.g. SQLITE_FULL, and its message); reads are answered, as on
    a full disk. The faults the ext4 tests make, raised where SQLAlchemy runs the statement, so
    its `handle_error` sees them as it sees the driver's."""

    def refuse(conn: Connection, cursor: object, statement: str, *_rest: object) -> None:
        verb = statement.split(maxsplit=1)[:1]
        if conn.engine.url.database == str(database) and verb and verb[0].upper() in _WRITES:
            error = sqlite3.OperationalError(message)
            error.sqlite_errorname = code_name  # as sqlite3 sets it (Python 3.11+)
            raise error

    event.listen(Engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", refuse)


@pytest.mark.parametrize(
    ("code_name", "message", "cause"),
    [
        ("SQLITE_FULL", "database or disk is full", "disk full on {}"),
        ("SQLITE_IOERR_WRITE", "disk I/O error", "disk I/O error on {}"),
    ],
)
async def test_sqlite_refusing_writes_mid_deploy_answers_commands_and_leaves_the_verdict_to_the_lab(
    code_name: str, message: str, cause: str
) -> None:
    async with deploy_lab() as (lab, bot):
        database = Path(make_url(bot.config.storage.resolved_database_url()).database or "")
        assert database.name.endswith(".sqlite")  # the default store: a SQLite file
        deploy = await deploy_held_in_the_gate(lab)
        committed = await bot.store.audit_entries(limit=1000)
        with sqlite_writes_refused(database, code_name, message):
            answer = await ask(lab, lab.users.operator, "jobs")
            assert answer.text == messages.store_unavailable(cause.format(bot.store.location))
            sim_node(lab, "tp-node3").set_k3s_ready(True)  # the gate passes: the deploy ends
            text = await wait_final(lab, deploy, "is not in its database yet", timeout=60)
            assert f"Job {deploy} succeeded" in text and "went wrong inside labbot" not in text
            assert "`tp-node3` stays locked until then." in text
            counted = generate_latest(bot.metrics.registry).decode()
            kind = "disk_full" if code_name == "SQLITE_FULL" else "io_error"
            assert f'labbot_store_errors_total{{kind="{kind}"}}' in counted
        await recorded_and_unlocked(lab, deploy)
        assert sim_node(lab, "tp-node3").current_generation() == 4
        kept = await bot.store.audit_entries(limit=1000)
        assert kept[: len(committed)] == committed  # what was committed before is all there


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[LoopFilesystem]:
    try:
        fs = LoopFilesystem.make(tmp_path, megabytes=128)
    except Unavailable as reason:
        print(
            f"no loop-mounted ext4 here ({reason}): the same faults are injected at the "
            "SQLAlchemy layer in test_sqlite_refusing_writes_mid_deploy_answers_commands_and_"
            "leaves_the_verdict_to_the_lab"
        )
        pytest.skip(f"cannot mount a loop file system: {reason}")
    try:
        yield fs
    finally:
        with contextlib.suppress(Unavailable):
            fs.unmount()


@contextlib.asynccontextmanager
async def lab_with_state_on(fs: LoopFilesystem) -> AsyncIterator[tuple[Lab, BotProcesses, Path]]:
    """A full lab whose labbot (a process of its own, started) keeps its state on `fs`."""
    state_dir = fs.mountpoint / "labbot"
    settings = {"storage": {"state_dir": str(state_dir)}, "jobs": {"stream_interval_seconds": 0.2}}
    async with Lab(full=True, config_overrides=settings) as lab:
        bots = BotProcesses(lab)
        try:
            await bots.start()
            yield lab, bots, state_dir
        finally:
            await bots.stop_all()


async def test_committed_rows_survive_the_file_system_turning_read_only_and_its_repair(
    small_filesystem: LoopFilesystem,
) -> None:
    fs = small_filesystem
    async with lab_with_state_on(fs) as (lab, bots, state_dir):
        first = await start(lab, lab.users.operator, "exercise now 1")
        await wait_final(lab, first, f"Job {first} succeeded")
        deploy = await deploy_held_in_the_gate(lab)

        fs.fail()  # as ext4 does after an I/O error: read-only from now on
        assert fs.read_only
        answer = await ask(lab, lab.users.operator, "exercise now 1")
        assert answer.text == messages.store_unavailable(f"{state_dir} is read-only")
        sim_node(lab, "tp-node3").set_k3s_ready(True)  # the deploy ends on the lab
        text = await wait_final(lab, deploy, "is not in its database yet", timeout=60)
        assert f"Job {deploy} succeeded" in text and "went wrong inside labbot" not in text

        await bots[0].stop()
        fs.repair()
        await bots.start()
        # The deploy's end never reached the disk: the restarted bot checks the node.
        text = await wait_final(lab, deploy, "Checked after the interruption", timeout=60)
        assert "*tp-node3* runs the approved system (generation 4, was 3): healthy." in text
        detail = await ask(lab, lab.users.viewer, f"job {first}")
        assert "succeeded" in detail.text  # committed before the fault: still there
        again = await start(lab, lab.users.operator, "deploy tp-node3")
        assert again == first + 2  # the refused command took no job number
        assert "Nothing to deploy" in await wait_final(lab, again, f"Job {again} succeeded", 60)


def fill(directory: Path) -> Path:
    """Take every free block of the file system under `directory`; returns the filler file."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free
    with filler.open("wb") as file:
        with contextlib.suppress(OSError):
            os.posix_fallocate(file.fileno(), 0, free)
        with contextlib.suppress(OSError):  # what fallocate's rounding left
            while True:
                file.write(b"\0" * 4096)
                file.flush()
    return filler


async def test_a_full_disk_mid_deploy_cuts_the_log_never_the_deploy(
    small_filesystem: LoopFilesystem,
) -> None:
    fs = small_filesystem
    async with lab_with_state_on(fs) as (lab, _bots, state_dir):
        deploy = await start(lab, lab.users.operator, "deploy tp-node3")
        approval = await approval_message(lab, deploy)
        (lab.flake_dir / KNOB_FILE).write_text('{"extra_lines": 80, "line_delay": 0.05}')
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        await lab.slack.wait_for(lambda: "CC obj" in thread_text(lab, deploy), timeout=30)
        filler = fill(fs.mountpoint)  # the job log, the database and its WAL share it
        answer = await ask(lab, lab.users.operator, "exercise now 1")
        assert answer.text == messages.store_unavailable(f"disk full on {state_dir}")
        text = await wait_final(lab, deploy, "is not in its database yet", timeout=60)
        assert f"Job {deploy} succeeded" in text  # colmena was never cut off
        assert "(The full log could not be saved: No space left on device.)" in text
        assert "in the attached log" not in text
        assert sim_node(lab, "tp-node3").current_generation() == 4
        filler.unlink()  # the operator makes room: the end is recorded, the lock freed
        await recorded_and_unlocked(lab, deploy)
