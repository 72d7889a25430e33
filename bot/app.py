"""The running bot: builds every part from the config, starts them in order and stops them in reverse.

One `LabBot` object holds all runtime state; there are no module globals.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from bot.capability import Capability, CapabilityContext, command_table, job_kinds, start_all
from bot.chat_events import ChatEvents
from bot.command_spec import CommandTable
from bot.commands import ENGINE_COMMANDS
from bot.config import Config, SlackMode
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.health import WRITE_CHECK_EVERY, CachedCheck, HealthChecks, HealthServer
from bot.intake import IntakeRecords
from bot.job_run import JobKind
from bot.jobs import JobEngine
from bot.leadership import ScheduleLeadership
from bot.metrics import Metrics
from bot.outbound import OutboundChat
from bot.policy import Policy
from bot.redact import Redactor
from bot.scheduler import Scheduler
from bot.services import Services
from bot.single_process import SingleProcessLock
from bot.slack_app import SlackEdge
from bot.slack_budget import SlackBudget
from bot.slack_chat import SlackChat, SlackUsergroups, make_web_client
from bot.slack_setup import verify_tokens
from bot.store import Store
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL = 0.001


class LabBot:
    """labbot as a whole. Usage: `async with LabBot(config) as bot: await bot.wait_stopped()`.

    Runs with every capability of `bot/capabilities.py` unless given its own list (tests and
    benchmarks run the engine with exercise capabilities).
    """

    def __init__(self, config: Config, capabilities: Sequence[Capability] | None = None) -> None:
        if capabilities is None:
            # The composition module is read here, at run time, so that importing the engine
            # never imports a capability (tests/test_layout.py checks it).
            from bot.capabilities import CAPABILITIES

            capabilities = CAPABILITIES
        self.config = config
        self.capabilities = tuple(capabilities)
        self.commands: CommandTable = command_table(ENGINE_COMMANDS, self.capabilities)
        self.kinds: Mapping[str, JobKind] = job_kinds(self.capabilities)
        self.tasks = TaskSet()
        self.ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stack = AsyncExitStack()
        self.store: Store
        self.edge: SlackEdge
        self.dispatcher: Dispatcher
        self.jobs: JobEngine
        self.scheduler: Scheduler
        self.leadership: ScheduleLeadership
        self.metrics = Metrics()
        self.health: HealthServer | None = None

    async def __aenter__(self) -> LabBot:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the store, connect to Slack; `ready` is set when commands can arrive."""
        # A request is acked only once the store's writer thread has committed it. While jobs
        # keep the event loop's thread busy, that writer waits for the GIL at each of its
        # sqlite calls, up to the switch interval (5 ms by default) each time; 1 ms keeps the
        # ack quick at a small cost in throughput (bench/stream.py measures both).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        slack = self.config.slack
        try:
            bot_token = slack.bot_token.read()
            app_token = slack.app_token.read() if slack.app_token else None
            signing = slack.signing_secret.read() if slack.signing_secret else None
        except LookupError as exc:
            raise ConfigError(f"slack: {exc}") from None
        # Before anything that talks to Slack: a wrong token is named now, in one sentence.
        await verify_tokens(slack, bot_token, app_token)
        try:
            database_url = self.config.storage.resolved_database_url()  # may read a secret
            if (lock := SingleProcessLock.for_database(database_url)) is not None:
                lock.acquire()
                self._stack.callback(lock.release)
            self.store = await Store.open(database_url)
            self._stack.push_async_callback(self.store.close)
            redactor = Redactor(configured_secrets(self.config))
            self.store.redact_audit = redactor.redact  # every audit row, in one place
            self.store.on_fault = self.metrics.store_error
            services = Services(self.config, self.metrics)
            self._stack.push_async_callback(services.close)
            client = make_web_client(slack, bot_token)
            # The one way out for messages: redacted, then fitted to Block Kit's limits, then
            # paced by the one budget of Slack calls that every job shares.
            chat = OutboundChat(
                SlackChat(
                    make_web_client(slack, bot_token, retry_429=False),
                    SlackBudget(),
                    self.metrics.slack_error,
                    patience=slack.rate_limit_patience_seconds,
                    min_interval=self.config.jobs.stream_interval_seconds,
                ),
                redactor,
            )
            policy = Policy(self.config.roles, slack.allowed_channels, SlackUsergroups(client))
            self.jobs = JobEngine(
                config=self.config,
                store=self.store,
                chat=chat,
                policy=policy,
                tasks=self.tasks,
                redactor=redactor,
                kinds=self.kinds,
                services=services,
            )
            events = ChatEvents()
            self.dispatcher = Dispatcher(self.config, self.store, policy, self.commands, self.jobs)
            self.edge = SlackEdge(
                slack,
                self.dispatcher,
                IntakeRecords(self.store),
                self.tasks,
                client,
                app_token,
                signing,
                on_ack=self.metrics.ack_seconds.observe,
                events=events,
            )
            self._stack.push_async_callback(self.edge.stop)
            self._stack.push_async_callback(self.tasks.close)
            self.scheduler = Scheduler(database_url, self.config.schedules.timezone)
            # Before recovery: the engine hooks registered here (a sops job's clone removed,
            # a Renovate card updated) must also see the jobs that recovery ends.
            start_all(
                self.capabilities,
                CapabilityContext(
                    self.config,
                    self.store,
                    chat,
                    services,
                    self.jobs,
                    self.scheduler,
                    policy,
                    events,
                    self.tasks,
                ),
            )
            await self.jobs.recover()
            # What was acked before a crash and never handled is handled now, before Slack can
            # re-deliver anything: a re-delivery then finds its request already recorded.
            await self.edge.replay()
            self.tasks.spawn(self.jobs.expiry_loop(), name="approval expiry", daemon=True)
            self.tasks.spawn(self.jobs.replica_loop(), name="replica heartbeat", daemon=True)
            # One replica runs the schedules; on SQLite, this one at once.
            self.leadership = ScheduleLeadership(
                self.store.engine, self.scheduler.lead, self.scheduler.follow
            )
            if self.store.shared:
                self.tasks.spawn(self.leadership.run(), name="schedule leadership", daemon=True)
            else:
                self.leadership.lead_alone()
            self._stack.push_async_callback(self.scheduler.stop)
            await self.edge.start()
            if self.config.health.enabled:
                await self._start_health()
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("labbot ready (%s mode)", "socket" if slack.mode is SlackMode.socket else "http")
        self.ready.set()

    async def _start_health(self) -> None:
        store, scheduler, edge, leadership = self.store, self.scheduler, self.edge, self.leadership
        self.health = HealthServer(
            self.config.health,
            HealthChecks(
                slack_connected=lambda: edge.connected,
                database_reachable=store.ping,
                database_writable=CachedCheck(store.writable, WRITE_CHECK_EVERY),
                # A standby replica is healthy: it takes the schedules over when needed.
                scheduler_running=lambda: scheduler.running or not leadership.leader,
                schedules_role=lambda: leadership.role,
            ),
            self.metrics,
            self.jobs.jobs.counts,
        )
        await self.health.start()
        self._stack.push_async_callback(self.health.stop)

    async def stop(self) -> None:
        """Refuse new work, let running work finish briefly, then close everything in reverse."""
        self.ready.clear()
        await self._stack.aclose()
        self._stopped.set()

    def request_stop(self) -> None:
        """Ask `wait_stopped` to return (from a signal handler)."""
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Block until a stop is requested."""
        await self._stopped.wait()


def configured_secrets(config: Config) -> Iterator[str]:
    """Every secret value the config names and this machine can read, for redaction."""
    for _path, source in config.secret_sources():
        try:
            yield source.read()
        except LookupError:
            continue  # not configured on this machine: nothing to leak
    try:
        yield from config.storage.database_passwords()
    except LookupError:
        pass  # the URL's source is missing: Store.open says so
