"""Flash upload benchmark: labbot's BMC client against `curl`, same image, same emulator, same run.

Run: .venv/bin/python bench/flash.py [--size 2G] [--runs 1] [--quick]

The image is a sparse file of --size bytes (default 2 GiB, made with truncate, so reading it
costs no disk I/O), read once before the runs so that its page cache is filled for both
uploaders alike (on a VM, the first read of a fresh file can cost seconds per GiB). The BMC
emulator (`labsim.bmc.BmcEmulator`, bmcd 2.3.4's protocol over HTTPS) runs in a child Python
process, so it does not share an event loop or a CPU with the client being measured; its
simulated write speed is 8 GB/s, so the emulated module is never the limit. The CRC
(read-back) phase stays on; it is not part of either upload time.

Each run flashes slot 1 (node 0) twice:
- curl: log in and start the flash from Python, then time
  `curl -s -k -H "Authorization: Bearer <token>" -H "Expect:"
  -F "file=@<image>;type=application/octet-stream" <url>/api/bmc/upload/<handle>`
  as a subprocess, then wait for the job to end. `-H "Expect:"` stops curl from sending
  `Expect: 100-continue`: the emulator (a low-level aiohttp server) never answers it, so curl
  would sit out its 1 s expect timeout first, which bmcd (actix answers 100-continue) does not
  cost it;
- labbot: `prepare_image` (one sha256 pass over the file; timed, reported apart), then
  `BmcClient.start_flash`, then time `client.upload(handle, read_image(image))` (what
  `flash_node` does between the start and the status polls), then poll until Done.
Figures: upload throughput of each (MB = 2**20 bytes), labbot / curl (goal ≥ 0.9), and this
process's RSS growth while labbot uploads (goal < 30 MB): RSS is sampled before the upload and
every 50 ms during it (from a thread, so a busy event loop cannot skip samples). CPU seconds of
the uploader (this process, or curl) and of the emulator during each upload say which side is
the limit. With --runs N, medians of N runs (no warm-up run), except RSS growth: the worst run
(later runs reuse the memory the first one grew).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bot.config import BmcConfig, SecretSource, TlsConfig
from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_flash import Done, Failed
from bot.integrations.bmc_image import FlashImage, prepare_image, read_image

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "LABBOT_BENCH_BMC_PASSWORD"
SLOT = 1  # labbot's slot numbers are 1–4; the API's node is SLOT - 1
IMAGE_NAME = "bench-flash.img"
MB = 2**20
FLASH_BYTES_PER_SEC = 8_000_000_000
RSS_SAMPLE_SECONDS = 0.05
POLL_SECONDS = 0.05
JOB_END_TIMEOUT = 300.0
WARM_CHUNK_BYTES = 4 * MB

#: The child process: one emulator; prints its address on stdout, stops on SIGTERM, SIGINT or
#: stdin closing.
EMULATOR_SCRIPT = """
import asyncio, json, secrets, signal, sys
from labsim.bmc import BmcEmulator

class StdinWatch(asyncio.Protocol):
    def __init__(self, stop):
        self.stop = stop
    def connection_lost(self, exc):
        self.stop.set()

async def main(rate):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stdin, _ = await loop.connect_read_pipe(lambda: StdinWatch(stop), sys.stdin)
    password = secrets.token_urlsafe(16)
    try:
        async with BmcEmulator(password=password, flash_bytes_per_sec=rate, nodes=4) as bmc:
            fingerprint = bmc.cert_sha256_fingerprint
            address = {"url": bmc.url, "fingerprint": fingerprint, "password": password}
            print(json.dumps(address), flush=True)
            await stop.wait()
    finally:
        stdin.close()

asyncio.run(main(int(sys.argv[1])))
"""


@dataclass(frozen=True)
class Emulator:
    """The emulator child process and how to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    fingerprint: str
    password: str


@dataclass(frozen=True)
class Upload:
    """One timed upload: wall seconds, CPU seconds of the uploader and of the emulator."""

    seconds: float
    uploader_cpu: float
    emulator_cpu: float
    rss_growth_mb: float = 0.0
    prepare_seconds: float = 0.0


def parse_size(text: str) -> int:
    """Bytes from `2G`, `512M`, `64K` (powers of 1024) or a plain number."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    suffix = text[-1:].upper()
    if suffix in units:
        return int(float(text[:-1]) * units[suffix])
    return int(text)


def warm_page_cache(path: Path) -> float:
    """Read the image once so that neither uploader pays for filling the page cache; seconds.

    The first read of a fresh sparse file allocates its page cache, which on a VM can cost
    seconds per GiB (the guest touching new memory); whoever read first would pay for it.
    """
    started = time.perf_counter()
    with path.open("rb", buffering=0) as image:
        while image.read(WARM_CHUNK_BYTES):
            pass
    return time.perf_counter() - started


def start_emulator() -> subprocess.Popen[bytes]:
    """Start the emulator child (it prints its address line once it listens)."""
    return subprocess.Popen(
        [sys.executable, "-c", EMULATOR_SCRIPT, str(FLASH_BYTES_PER_SEC)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def emulator_address(process: subprocess.Popen[bytes]) -> Emulator:
    """Read the child's address line."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the BMC emulator process exited before printing its address")
    address = json.loads(line)
    return Emulator(process, address["url"], address["fingerprint"], address["password"])


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    """Close stdin, SIGTERM, and kill if it has not gone after 10 s."""
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_now(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


class RssSampler:
    """Peak RSS of this process, sampled from a thread every `interval` seconds."""

    def __init__(self, interval: float = RSS_SAMPLE_SECONDS) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.start_rss = rss_now(self._process)
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_now(self._process))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_now(self._process))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start_rss) / MB


# -- the curl baseline -------------------------------------------------------------------


async def login(session: aiohttp.ClientSession, emulator: Emulator) -> str:
    async with session.post(
        f"{emulator.url}/api/bmc/authenticate",
        json={"username": "root", "password": emulator.password},
    ) as response:
        response.raise_for_status()
        return response.headers["X-Auth-Token"]


async def api_get(
    session: aiohttp.ClientSession, emulator: Emulator, token: str, query: dict[str, str]
) -> Any:
    async with session.get(
        f"{emulator.url}/api/bmc",
        params=query,
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        text = await response.text()
        if response.status != 200:
            raise RuntimeError(f"BMC answered {response.status}: {text}")
        return json.loads(text)


async def wait_for_job_end(
    session: aiohttp.ClientSession, emulator: Emulator, token: str
) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_END_TIMEOUT
    while time.monotonic() < deadline:
        status = await api_get(session, emulator, token, {"opt": "get", "type": "flash"})
        if isinstance(status, dict) and ("Done" in status or "Error" in status):
            return status
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"flash job not finished within {JOB_END_TIMEOUT} s")


async def curl_upload(emulator: Emulator, path: Path, size: int) -> Upload:
    """Start a flash from Python, time curl's upload of `path`, wait for the job to end."""
    ssl = aiohttp.Fingerprint(bytes.fromhex(emulator.fingerprint))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl)) as session:
        token = await login(session, emulator)
        query = {
            "opt": "set",
            "type": "flash",
            "node": str(SLOT - 1),
            "file": IMAGE_NAME,
            "length": str(size),
        }
        handle = (await api_get(session, emulator, token, query))["handle"]
        command = [
            "curl",
            "-s",
            "-k",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Expect:",
            "-F",
            f"file=@{path};type=application/octet-stream",
            f"{emulator.url}/api/bmc/upload/{handle}",
        ]
        bmc = psutil.Process(emulator.process.pid)
        bmc_cpu, curl_cpu = cpu_seconds(bmc), children_cpu_seconds()
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        try:
            out, _ = await process.communicate()
        finally:
            if process.returncode is None:  # interrupted: do not leave curl behind
                process.kill()
                await process.wait()
        seconds = time.perf_counter() - started
        curl_cpu = children_cpu_seconds() - curl_cpu
        bmc_cpu = cpu_seconds(bmc) - bmc_cpu
        if process.returncode != 0 or out != b"200":
            raise RuntimeError(f"curl exited {process.returncode}, HTTP status {out.decode()!r}")
        status = await wait_for_job_end(session, emulator, token)
        if "Done" not in status:
            raise RuntimeError(f"curl's flash failed: {status}")
    return Upload(seconds, curl_cpu, bmc_cpu)


# -- labbot ------------------------------------------------------------------------------


def client_config(emulator: Emulator) -> BmcConfig:
    os.environ[PASSWORD_ENV] = emulator.password
    return BmcConfig(
        url=emulator.url,
        password=SecretSource(env=PASSWORD_ENV),
        tls=TlsConfig(fingerprint_sha256=emulator.fingerprint),
        timeout_seconds=30.0,
    )


async def labbot_upload(emulator: Emulator, path: Path) -> Upload:
    """prepare_image, start_flash, time client.upload (and RSS), then poll until Done."""
    started = time.perf_counter()
    image: FlashImage = await prepare_image(path)
    prepare_seconds = time.perf_counter() - started
    me, bmc = psutil.Process(), psutil.Process(emulator.process.pid)
    async with BmcClient(client_config(emulator), name="bench") as client:
        handle = await client.start_flash(SLOT, image)
        with RssSampler() as rss:
            own_cpu, bmc_cpu = cpu_seconds(me), cpu_seconds(bmc)
            started = time.perf_counter()
            await client.upload(handle, read_image(image))
            seconds = time.perf_counter() - started
            own_cpu, bmc_cpu = cpu_seconds(me) - own_cpu, cpu_seconds(bmc) - bmc_cpu
        deadline = time.monotonic() + JOB_END_TIMEOUT
        while True:
            event = await client.poll_flash(handle)
            if isinstance(event, Done):
                break
            if isinstance(event, Failed):
                raise RuntimeError(f"labbot's flash failed: {event.message}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"flash job not finished within {JOB_END_TIMEOUT} s")
            await asyncio.sleep(POLL_SECONDS)
    return Upload(seconds, own_cpu, bmc_cpu, rss.growth_mb, prepare_seconds)


# -- the runs ----------------------------------------------------------------------------


def describe(name: str, upload: Upload, size: int) -> str:
    return (
        f"  {name:7} {upload.seconds:7.2f} s  {size / MB / upload.seconds:8.1f} MB/s  "
        f"cpu: uploader {upload.uploader_cpu:5.2f} s, emulator {upload.emulator_cpu:5.2f} s"
    )


async def run(emulator: Emulator, path: Path, size: int, runs: int) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    curls: list[Upload] = []
    labbots: list[Upload] = []
    for number in range(1, runs + 1):
        curls.append(await curl_upload(emulator, path, size))
        labbots.append(await labbot_upload(emulator, path))
        print(f"run {number}:")
        print(describe("curl", curls[-1], size))
        print(
            describe("labbot", labbots[-1], size)
            + f"; RSS growth {labbots[-1].rss_growth_mb:.1f} MB,"
            f" prepare_image {labbots[-1].prepare_seconds:.2f} s"
        )
    curl_mbs = statistics.median(size / MB / u.seconds for u in curls)
    labbot_mbs = statistics.median(size / MB / u.seconds for u in labbots)
    rss_growth = max(u.rss_growth_mb for u in labbots)  # later runs reuse the first's memory
    prepare = statistics.median(u.prepare_seconds for u in labbots)
    label = "median of " + str(runs) + " runs" if runs > 1 else "1 run"
    ratio = labbot_mbs / curl_mbs
    print(f"figures ({label}, image {size / MB:.0f} MB):")
    print(f"  curl upload:   {curl_mbs:.1f} MB/s")
    print(f"  labbot upload: {labbot_mbs:.1f} MB/s")
    print(f"  ratio labbot / curl: {ratio:.2f} (goal ≥ 0.9) {'ok' if ratio >= 0.9 else 'MISSED'}")
    print(
        f"  RSS growth while uploading (worst run): {rss_growth:.1f} MB (goal < 30 MB)"
        f" {'ok' if rss_growth < 30 else 'MISSED'}"
    )
    print(f"  prepare_image (size + sha256 pass, not in the upload): {prepare:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=parse_size, default=2 * 2**30, help="e.g. 2G, 256M")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a 64 MB image, for development")
    args = parser.parse_args()
    size = 64 * MB if args.quick else args.size
    if shutil.which("curl") is None:
        parser.error("curl is not on PATH")
    print(
        f"machine: {platform.machine()} {psutil.cpu_count()} cpu, python {sys.version.split()[0]},"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    # SIGTERM ends the benchmark through the clean-up below (in the event loop: `run`).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    directory = Path(tempfile.mkdtemp(prefix="labbot-flash-bench-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        path = directory / IMAGE_NAME
        with path.open("wb") as image:
            image.truncate(size)
        print(f"page cache filled with the image in {warm_page_cache(path):.2f} s (not timed)")
        process = start_emulator()
        asyncio.run(run(emulator_address(process), path, size, args.runs))
    except asyncio.CancelledError:  # SIGTERM during the runs
        print("stopped by SIGTERM", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if process is not None:
            stop_emulator(process)
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
