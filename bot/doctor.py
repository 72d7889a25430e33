"""`labbot doctor`: a real setup checked end to end, each failure printed with its fix.

Read-only: it asks Slack, each BMC, each node, colmena, nix, sops, GitHub and the infra checkout
what they say about labbot's setup, and changes nothing anywhere. Each check is one `Finding`;
the command prints them as a checklist (or JSON) and exits non-zero when any failed.

Long because: one check per outside system, each with the sentence that says how to fix it, and
keeping them in one file shows the whole checklist in reading order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import Config, SlackMode
from bot.config_file import unreadable_secrets
from bot.errors import ConfigError, LabError
from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import BmcAuthFailed
from bot.integrations.github import GitHubClient
from bot.integrations.sops import Sops
from bot.integrations.ssh import SshPool, SshTarget
from bot.slack_setup import (
    REQUIRED_SCOPES,
    SlackUnavailable,
    check_tokens,
    is_member,
    usergroup_problem,
)

HIVE_SCHEMAS = (("0.4.", "v0"), ("0.5.", "v0.5"))
"""The one hive schema each colmena release reads (`colmenaHive.__schema`, set by its
`lib.makeHive` in src/nix/hive/eval.nix): 0.4.x `compatibleSchema = "v0"` (src/nix/hive/
flake.nix at v0.4.0), 0.5.0-pre (main since 41ed664) `HIVE_SCHEMA = "v0.5"` (src/nix/hive/
mod.rs); github.com/zhaofengli/colmena."""
CHECK_TIMEOUT = 30.0
"""Seconds one check may take before it counts as failed (a node that does not answer)."""


@dataclass(frozen=True)
class Finding:
    """One check: where, what, whether it holds, what was seen, and the fix when it does not."""

    area: str
    check: str
    ok: bool
    detail: str
    fix: str = ""


Check = Callable[[], Awaitable[list[Finding]]]


class Doctor:
    """Runs every check the config calls for. Example: ``await Doctor(config).run()``."""

    def __init__(self, config: Config) -> None:
        self.config = config

    async def run(self) -> list[Finding]:
        """Every finding, in checklist order."""
        findings = self._secrets()
        if not all(f.ok for f in findings):
            return findings  # nothing else can be asked without its secrets
        checks: list[tuple[str, Check]] = [("slack", self._slack)]
        checks += [(f"bmc {name}", self._bmc_check(name)) for name in self.config.bmc]
        if self.config.ssh is not None:
            checks.append(("nodes", self._nodes))
        if self.config.colmena is not None:
            checks += [("colmena", self._colmena), ("nix", self._nix), ("infra", self._infra)]
        if self.config.sops is not None:
            checks.append(("sops", self._sops))
        if self.config.github is not None:
            checks.append(("github", self._github))
        for area, check in checks:
            try:
                findings += await asyncio.wait_for(check(), CHECK_TIMEOUT)
            except TimeoutError:
                findings.append(
                    Finding(
                        area,
                        "answer",
                        False,
                        f"no answer within {CHECK_TIMEOUT:g} s",
                        "check that it is up and reachable from this machine",
                    )
                )
            except (LabError, OSError) as exc:
                # "bmc turingpi", "node tp-node3": the fix is the area kind's.
                fix = _FIXES.get(area) or _FIXES.get(area.split()[0], _FIXES["any"])
                findings.append(Finding(area, "check", False, str(exc), fix))
        return findings

    # --- config ----------------------------------------------------------------------------

    def _secrets(self) -> list[Finding]:
        missing = unreadable_secrets(self.config)
        if not missing:
            count = len(self.config.secret_sources())
            return [Finding("config", "secrets", True, f"all {count} secrets can be read")]
        return [
            Finding(
                "config",
                problem.path,
                False,
                problem.message,
                "set the environment variable or create the file it names (readable by labbot)",
            )
            for problem in missing
        ]

    # --- slack -----------------------------------------------------------------------------

    async def _slack(self) -> list[Finding]:
        slack = self.config.slack
        bot_token = slack.bot_token.read()
        app_token = slack.app_token.read() if slack.app_token else None
        try:
            identity = await check_tokens(slack, bot_token, app_token)
        except ConfigError as exc:
            return [Finding("slack", "tokens", False, str(exc), _FIXES["slack tokens"])]
        except SlackUnavailable as exc:
            return [
                Finding(
                    "slack",
                    "tokens",
                    False,
                    f"Slack did not answer: {exc}",
                    _FIXES["slack unavailable"],
                )
            ]
        which = "bot and app-level tokens" if slack.mode is SlackMode.socket else "bot token"
        out = [Finding("slack", "tokens", True, f"{which} accepted (bot {identity.user_id})")]
        if identity.scopes:
            lacking = sorted(REQUIRED_SCOPES - identity.scopes)
            out.append(
                Finding(
                    "slack",
                    "scopes",
                    not lacking,
                    f"missing {', '.join(lacking)}" if lacking else "every scope labbot uses",
                    "reinstall the app from slack-app-manifest.yaml (api.slack.com/apps → the "
                    "app → App Manifest: paste it, then Install App → Reinstall to Workspace)",
                )
            )
        for channel in slack.allowed_channels:
            member = await is_member(slack, bot_token, channel)
            out.append(
                Finding(
                    "slack",
                    f"channel {channel}",
                    member is True,
                    "labbot is a member"
                    if member is True
                    else f"labbot is not a member ({member or 'not invited'})",
                    f"invite it: `/invite @labbot` in that channel ({channel})",
                )
            )
        roles = self.config.roles
        for group in sorted(
            {g for r in (roles.viewer, roles.operator, roles.admin) for g in r.usergroups}
        ):
            problem = await usergroup_problem(slack, bot_token, group)
            out.append(
                Finding(
                    "slack",
                    f"user group {group}",
                    problem is None,
                    "its members can be read" if problem is None else f"Slack says {problem}",
                    "check the ID (S…) in roles; the app needs usergroups:read",
                )
            )
        return out

    # --- bmc -------------------------------------------------------------------------------

    def _bmc_check(self, name: str) -> Check:
        async def check() -> list[Finding]:
            config = self.config.bmc[name]
            area = f"bmc {name}"
            try:
                tls = await asyncio.to_thread(
                    _certificate_finding,
                    area,
                    config.url,
                    config.tls.fingerprint_sha256,
                    config.tls.verify,
                )
            except OSError as exc:  # refused, no route, name not found, TLS handshake
                reason = exc.strerror or str(exc) or type(exc).__name__
                return [
                    Finding(
                        area, "reachable", False, f"{config.url}: {reason}", _FIXES["bmc reach"]
                    )
                ]
            out = [tls]
            try:
                async with BmcClient(config, name=name) as client:
                    info = await client.info(refresh=True)
                    power = await client.power_status()
            except BmcAuthFailed as exc:
                # What happened, not what the running bot does next ("will not send this
                # password again for 5 min" means nothing to a one-off check).
                return [*out, Finding(area, "login", False, exc.reason, _FIXES["bmc"])]
            except LabError as exc:
                return [*out, Finding(area, "login", False, str(exc), _FIXES["bmc"])]
            out.append(Finding(area, "login", True, f"firmware {info.describe()}"))
            out.append(Finding(area, "slots", True, f"{len(power)} slots report their power"))
            return out

        return check

    # --- nodes -----------------------------------------------------------------------------

    async def _nodes(self) -> list[Finding]:
        assert self.config.ssh is not None
        nodes = [n for n in self.config.inventory.nodes if not n.deferred]
        out: list[Finding] = []
        async with SshPool(self.config.ssh, [SshTarget.of(n) for n in nodes]) as pool:

            async def one(name: str) -> list[Finding]:
                area = f"node {name}"
                try:
                    version = await pool.run(name, ["nixos-version"])
                except LabError as exc:
                    return [Finding(area, "ssh", False, str(exc), _FIXES["node ssh"])]
                found = [Finding(area, "ssh", True, f"NixOS {version.stdout.strip()}")]
                rights = await pool.run(name, ["true"], sudo=True)
                found.append(
                    Finding(
                        area,
                        "activation rights",
                        rights.exit_status == 0,
                        "sudo without a password works"
                        if rights.exit_status == 0
                        else f"sudo -n refused: {rights.stderr.strip()[:200]}",
                        "let the deploy user run sudo without a password "
                        "(security.sudo.wheelNeedsPassword = false, or a sudo rule)",
                    )
                )
                return found

            for found in await asyncio.gather(*(one(n.name) for n in nodes)):
                out += found
        return out

    # --- colmena, nix, the infra checkout ---------------------------------------------------

    async def _colmena(self) -> list[Finding]:
        assert self.config.colmena is not None
        colmena = self.config.colmena
        done = await _output([colmena.binary, "--version"], colmena.flake_dir)
        said = (done.stdout or done.stderr).strip()[:200] or f"exit {done.returncode}"
        found = [
            Finding(
                "colmena",
                "version",
                done.returncode == 0,
                said,
                f"install colmena or set colmena.binary (now {colmena.binary!r})",
            )
        ]
        if done.returncode == 0:
            found.append(await self._hive_schema(said.removeprefix("colmena ").strip()))
        return found

    async def _hive_schema(self, version: str) -> Finding:
        """Whether this colmena reads the hive: a flake's `colmenaHive` (colmena's
        `lib.makeHive`) carries a schema, and each colmena reads that one schema only."""
        assert self.config.colmena is not None
        colmena = self.config.colmena
        fix = (
            "use the colmena CLI of the infra flake's own colmena input (services.labbot runs "
            "it by default; by hand, `nix develop` in the infra checkout puts it on PATH) and "
            "point colmena.binary at it, or pin that input to this CLI's release"
        )
        nix = [colmena.nix_binary, "--extra-experimental-features", "nix-command flakes"]
        attribute = f"{colmena.flake_dir}#colmenaHive.__schema"
        done = await _output([*nix, "eval", "--raw", attribute], colmena.flake_dir)
        if done.returncode != 0:
            if "does not provide attribute" in done.stderr:
                return Finding(
                    "colmena",
                    "hive schema",
                    True,
                    "no colmenaHive output: colmena evaluates the flake's `colmena` itself",
                )
            return Finding(
                "colmena",
                "hive schema",
                False,
                f"nix eval {attribute}: {done.stderr.strip()[-300:]}",
                "check that `nix eval .#colmenaHive.__schema` works in the infra checkout",
            )
        needed = done.stdout.strip()
        reads = next((s for prefix, s in HIVE_SCHEMAS if version.startswith(prefix)), None)
        if reads is None:
            detail = (
                f"the hive is schema {needed}; labbot does not know which colmena {version} reads"
            )
        elif reads != needed:
            detail = f"the hive is schema {needed}, colmena {version} reads only {reads}"
        else:
            detail = f"the hive is schema {needed}, which colmena {version} reads"
        return Finding("colmena", "hive schema", reads == needed, detail, fix)

    async def _nix(self) -> list[Finding]:
        assert self.config.colmena is not None
        colmena = self.config.colmena
        command = [colmena.nix_binary, "--extra-experimental-features", "nix-command"]
        done = await _output([*command, "show-config"], colmena.flake_dir)
        if done.returncode != 0:
            return [
                Finding(
                    "nix",
                    "nix",
                    False,
                    done.stderr.strip()[:200],
                    f"install Nix or set colmena.nix_binary (now {colmena.nix_binary!r})",
                )
            ]
        settings = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition("=") for line in done.stdout.splitlines())
        )
        here = {settings.get("system", "")} | set(settings.get("extra-platforms", "").split())
        builders = settings.get("builders", "").strip()
        wanted = "aarch64-linux"  # every Turing Pi module (CM4, RK1) is aarch64
        ok = wanted in here or bool(builders and builders != "@/dev/null")
        how = (
            "natively or through binfmt"
            if wanted in here
            else "through remote builders"
            if ok
            else "not at all"
        )
        return [
            Finding(
                "nix",
                "builds for the nodes",
                ok,
                f"{wanted}: {how} (this machine: {settings.get('system', '?')})",
                "binfmt emulation (services.labbot.emulateAarch64, or "
                'boot.binfmt.emulatedSystems = [ "aarch64-linux" ]), an aarch64 remote builder '
                "(nix.buildMachines), or building on the nodes (deployment.buildOnTarget)",
            )
        ]

    async def _infra(self) -> list[Finding]:
        assert self.config.colmena is not None
        flake = self.config.colmena.flake_dir
        status = await _output(["git", "status", "--porcelain"], flake)
        clean = status.returncode == 0 and not status.stdout.strip()
        changed = len(status.stdout.splitlines())
        lock = (flake / "flake.lock").is_file()
        return [
            Finding(
                "infra",
                "checkout clean",
                clean,
                f"{flake} is clean"
                if clean
                else f"{changed} changed or untracked file(s) in {flake}"
                if status.returncode == 0
                else status.stderr.strip()[:200],
                "commit or remove the changes: labbot deploys what is committed",
            ),
            Finding(
                "infra",
                "flake.lock",
                lock,
                "present" if lock else "missing",
                "run `nix flake lock` and commit flake.lock (Renovate updates only a lock file)",
            ),
        ]

    # --- sops --------------------------------------------------------------------------------

    async def _sops(self) -> list[Finding]:
        assert self.config.sops is not None
        settings = self.config.sops
        tree = self.config.colmena.flake_dir if self.config.colmena else None
        if tree is None:
            return [
                Finding(
                    "sops",
                    "checkout",
                    False,
                    "no colmena.flake_dir to read from",
                    "set colmena.flake_dir to the infra checkout",
                )
            ]
        sops = Sops(
            tree,
            identity=settings.age_key.read(),
            config=settings.sops_yaml,
            binary=settings.binary,
        )
        out = []
        for path in settings.secrets_files:
            try:
                await sops.decrypt(path)
            except LabError as exc:
                out.append(Finding("sops", str(path), False, str(exc), _FIXES["sops"]))
            else:
                out.append(Finding("sops", str(path), True, "labbot's age key decrypts it"))
        return out

    # --- github -----------------------------------------------------------------------------

    async def _github(self) -> list[Finding]:
        assert self.config.github is not None
        async with GitHubClient(self.config.github) as client:
            access = await client.access()
        branch = access.default_branch
        out = [
            Finding(
                "github", "repository", True, f"{self.config.github.repo}, default branch {branch}"
            )
        ]
        scopes = access.oauth_scopes
        if scopes is not None:  # a classic token: its scopes are its rights
            needed = "repo" if access.private else "public_repo"
            has = "repo" in scopes or needed in scopes
            out.append(
                Finding(
                    "github",
                    "token",
                    has,
                    f"classic token with scopes {', '.join(scopes) or 'none'}"
                    + ("" if has else f": it lacks {needed}"),
                    f"give the token the {needed} scope, or use a fine-grained token for this "
                    "repository alone (README, section 6)",
                )
            )
        refused = ", ".join(f"{what} (needs {needs})" for what, needs in access.refused_reads)
        if refused:
            detail = f"GitHub refused reading {refused}"
        elif not access.can_push:
            detail = (
                "the token's account can only read this repository: labbot cannot open, "
                "approve or merge pull requests"
            )
        else:
            detail = "reads contents, pull requests, checks and statuses; can push"
            if scopes is None:
                # A fine-grained token's or an app's write access shows only when it writes.
                detail += (
                    " (the account can; the token's own Contents and Pull requests must be "
                    "Read and write, which GitHub shows only on the token's page)"
                )
        out.append(
            Finding(
                "github",
                "permissions",
                not refused and access.can_push,
                detail,
                "give the token Contents and Pull requests: Read and write, Checks and Commit "
                "statuses: Read-only on this repository (README, section 6), to an account "
                "with write access to it",
            )
        )
        rule = access.branch_rule
        if rule is not None:
            checks = ", ".join(rule.required_checks)
            out.append(
                Finding(
                    "github",
                    "branch protection",
                    True,
                    f"{branch} is protected"
                    + (f": merging needs {checks}" if checks else " (no required checks)")
                    if rule.protected
                    else f"{branch} is not protected: GitHub requires nothing before a merge",
                )
            )
        return out


_FIXES = {
    "slack": "check slack.api_url and this machine's network",
    "slack unavailable": "try again in a minute (Slack answers apps.connections.open about "
    "once a minute); if it goes on, check slack.api_url and this machine's network",
    "slack tokens": "copy both tokens again from the app's settings (OAuth & Permissions; "
    "Basic Information → App-Level Tokens)",
    "node ssh": "check the node is on (`/lab power status`), its address, the deploy user's "
    "authorized key, and its host key in ssh.known_hosts_file",
    "bmc": "check bmc.<name>.url, username and password (the BMC's web login) and the pinned "
    "certificate",
    "bmc reach": "check bmc.<name>.url (the address of the BMC's web UI) and that the BMC is "
    "powered and on this machine's network",
    "colmena": "check colmena.binary and colmena.flake_dir",
    "nix": "check colmena.nix_binary and that the Nix daemon runs",
    "any": "run it again; if it goes on, check that part of the config",
    "sops": "add labbot's age recipient to .sops.yaml and run `sops updatekeys` on the file",
    "github": "check github.repo and the token (fine-grained, for this repository)",
    "nodes": "check ssh.key_file and ssh.known_hosts_file",
    "infra": "check colmena.flake_dir is a git checkout of the infra repo",
}


@dataclass(frozen=True)
class _Done:
    returncode: int
    stdout: str
    stderr: str


async def _output(argv: list[str], cwd: Path) -> _Done:
    """Run a short local command to its end (`--version` and the like)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return _Done(127, "", f"cannot run {argv[0]}: {exc.strerror}")
    out, err = await process.communicate()
    return _Done(
        process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
    )


def _certificate_finding(area: str, url: str, pinned: str | None, verify: bool) -> Finding:
    """The BMC's certificate: pinned or not, with the fingerprint to pin."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return Finding(area, "tls", True, "plain HTTP: no certificate to check")
    der = ssl.PEM_cert_to_DER_cert(
        ssl.get_server_certificate((parts.hostname or "", parts.port or 443), timeout=10)
    )
    digest = hashlib.sha256(der).hexdigest().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    if pinned is not None:
        same = pinned.replace(":", "").upper() == digest
        return Finding(
            area,
            "tls",
            same,
            "its certificate matches the pinned fingerprint"
            if same
            else f"its certificate changed: it is now {fingerprint}",
            "if the BMC was reflashed, pin the new fingerprint in tls.fingerprint_sha256",
        )
    return Finding(
        area,
        "tls",
        not verify,
        f"certificate {fingerprint} is not pinned",
        f'pin it: tls: {{fingerprint_sha256: "{fingerprint}"}} (a BMC\'s certificate is '
        "self-signed, so verify: true alone cannot trust it)",
    )


def render(findings: list[Finding]) -> str:
    """The checklist as text: one line per check, the fix under each failure."""
    lines = []
    for f in findings:
        mark = "ok  " if f.ok else "FAIL"
        lines.append(f"[{mark}] {f.area}: {f.check}: {f.detail}")
        if not f.ok and f.fix:
            lines.append(f"       fix: {f.fix}")
    failed = sum(not f.ok for f in findings)
    lines.append(
        f"{len(findings) - failed} of {len(findings)} checks passed"
        + (f"; {failed} failed" if failed else "")
    )
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    """The findings for scripts."""
    return json.dumps([asdict(f) for f in findings], indent=2)
