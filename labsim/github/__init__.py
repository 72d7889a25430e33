"""A local GitHub REST emulator (PyGithub-compatible) backed by real bare git repositories.

Test infrastructure only: the bot never imports it. Start with ``GitHubEmulator``.
"""

from __future__ import annotations

from labsim.github.emulator import GitHubEmulator
from labsim.github.flake_lock import (
    FlakeInput,
    bump_input,
    default_flake_inputs,
    default_infra_files,
    fake_nar_hash,
    fake_rev,
    locked_rev,
    render_flake_lock,
    render_flake_nix,
)
from labsim.github.gitstore import Identity
from labsim.github.knobs import DEFAULT_REPO, RenovatePr
from labsim.github.model import (
    Actor,
    CommentRecord,
    MergeRecord,
    PullRequest,
    RequestRecord,
    ReviewRecord,
)
from labsim.github.renovate import RENOVATE_LOGIN, RENOVATE_USER_ID, RenovateUpdate, render_pr_body

__all__ = [
    "DEFAULT_REPO",
    "RENOVATE_LOGIN",
    "RENOVATE_USER_ID",
    "Actor",
    "CommentRecord",
    "FlakeInput",
    "GitHubEmulator",
    "Identity",
    "MergeRecord",
    "PullRequest",
    "RenovatePr",
    "RenovateUpdate",
    "RequestRecord",
    "ReviewRecord",
    "bump_input",
    "default_flake_inputs",
    "default_infra_files",
    "fake_nar_hash",
    "fake_rev",
    "locked_rev",
    "render_flake_lock",
    "render_flake_nix",
    "render_pr_body",
]
