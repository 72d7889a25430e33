"""/healthz and /metrics against the simulated lab."""

from __future__ import annotations

import aiohttp
from jobflow import ask

from bot.app import LabBot
from labsim.lab import Lab


async def test_healthz_and_metrics(lab: Lab) -> None:
    lab.config_overrides["health"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    async with lab.bot() as bot:
        await lab.slack.wait_connected()
        assert bot.health is not None and bot.health.port
        await ask(lab, lab.users.admin, "whoami")
        base = f"http://127.0.0.1:{bot.health.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                body = await response.json()
            assert body == {
                "status": "ok",
                "slack_connected": True,
                "database_reachable": True,
                "database_writable": True,
                "scheduler_running": True,
                "schedules": "leader",  # the only process on its SQLite file
            }
            async with http.get(f"{base}/metrics") as response:
                text = await response.text()
            assert "labbot_ack_seconds_count 1.0" in text
            assert "labbot_slack_api_errors_total" in text
            # Slack goes away: the health check says so.
            await bot.edge.stop()
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["slack_connected"] is False


async def test_metrics_count_jobs_and_slack_errors(lab: Lab) -> None:
    from exercise import EXERCISE_CAPABILITIES
    from jobflow import start, wait_final

    lab.config_overrides["health"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
    async with LabBot(lab.config(), EXERCISE_CAPABILITIES) as bot:
        await lab.slack.wait_connected()
        job_id = await start(lab, lab.users.operator, "exercise now 1")
        await wait_final(lab, job_id, "succeeded")
        # 429s are counted, waited out and retried: the job still starts and ends.
        lab.slack.inject_rate_limit("chat.postMessage", count=3, retry_after=0)
        second = await start(lab, lab.users.operator, "exercise now 1")
        await wait_final(lab, second, "succeeded")
        assert bot.health is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{bot.health.port}/metrics") as response:
                text = await response.text()
        assert 'labbot_jobs{command="exercise",state="succeeded"} 2.0' in text
        assert (
            'labbot_slack_api_errors_total{error="ratelimited",method="chat.postMessage"}' in text
        )
