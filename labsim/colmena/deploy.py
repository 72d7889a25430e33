"""`colmena apply` / `build` of the double: evaluate → build → push → keys → activate, per node.

Ordering, job texts and error strings follow colmena 0.4.0 (`src/nix/deployment/mod.rs`,
`src/nix/host/ssh.rs`). The closure copy is `nix-store --check-validity` then `nix-store --import`
over ssh with labsim's export stream (standing in for nix-copy-closure / `nix copy`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from labsim.colmena.build import (
    BUILD_FAILURE_EXIT,
    BuildInputs,
    build_log,
    derivation_path,
    failure_log,
    keep_result,
    store_locally,
    system_for,
)
from labsim.colmena.hive import Hive, InventoryNode, content_hash, git_state, nixpkgs_lock
from labsim.colmena.knobs import ColmenaKnobs
from labsim.colmena.progress import Job, JobKind, Output, describe_node_list
from labsim.colmena.remote import SshTarget, run_remote
from labsim.nodes.nixos_commands import IMPORT_STREAM_MAGIC
from labsim.nodes.storepaths import SystemClosure

SYSTEM_PROFILE = "/nix/var/nix/profiles/system"
GOAL_SUCCESS = {
    "switch": "Activation successful",
    "boot": "Will be activated next boot",
    "test": "Activation successful (test)",
    "dry-activate": "Dry activation successful",
}


def child_error(code: int) -> str:
    """ColmenaError::ChildFailure's text."""
    return f"Child process exited with error code: {code}"


class JobFailed(Exception):
    """A job failed; carries colmena's error text."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class DeployOptions:
    """The apply flags the double acts on."""

    goal: str
    parallel: int = 10
    keep_result: bool = False
    upload_keys: bool = True


class Deployment:
    """One `apply` run over the selected nodes."""

    def __init__(
        self,
        hive: Hive,
        nodes: list[InventoryNode],
        options: DeployOptions,
        knobs: ColmenaKnobs,
        out: Output,
        store_dir: Path,
    ) -> None:
        self.hive = hive
        self.nodes = nodes
        self.options = options
        self.knobs = knobs
        self.out = out
        self.store_dir = store_dir

    async def run(self) -> str | None:
        """Deploy; return the first error text (what the meta job fails with), or None."""
        names = [node.name for node in self.nodes]
        self.out.hint_label_width(names)
        if not self.nodes:
            return None
        every = set(self.hive.nodes)
        inputs = BuildInputs(
            {name: content_hash(self.hive.directory, name, every) for name in names},
            git_state(self.hive.directory),
            nixpkgs_lock(self.hive.directory),
        )
        job = self.out.create(JobKind.EVALUATE, names)
        self.out.running(job, f"Evaluating {describe_node_list(names)}")
        if self.knobs.fail_eval:
            for line in self.knobs.fail_eval.splitlines():
                self.out.child(job, line if line.startswith("error") else f"error: {line}")
            error = child_error(1)
            self.out.failure(job, error)
            return error
        closures = {node.name: system_for(node, inputs) for node in self.nodes}
        self.out.success(job, f"Evaluated {describe_node_list(names)}")
        # colmena's one `apply` semaphore (src/nix/deployment/limits.rs, ParallelismLimit:
        # 10 by default, `-p N` sets it, 0 means one per target, src/command/apply.rs): a node
        # holds a permit for build+push, drops it, then takes one again to activate
        # (build_and_push_node / activate_node in src/nix/deployment/mod.rs).
        limit = self.options.parallel or len(self.nodes)
        semaphore = asyncio.Semaphore(limit)
        results = await asyncio.gather(
            *(self._deploy_node(node, closures[node.name], semaphore) for node in self.nodes)
        )
        errors = [result for result in results if result]
        return errors[0] if errors else None

    async def _deploy_node(
        self, node: InventoryNode, closure: SystemClosure, semaphore: asyncio.Semaphore
    ) -> str | None:
        goal = self.options.goal
        try:
            async with semaphore:
                await self._build(node, closure)
                if goal == "build":
                    return None
                await self._push(node, closure)
            if goal == "push":
                return None
            async with semaphore:
                keys = self.options.upload_keys and goal != "dry-activate"
                if keys:
                    job = self.out.create(JobKind.UPLOAD_KEYS, [node.name])
                    self.out.noop(job, "No pre-activation keys to upload")
                await self._activate(node, closure)
                if keys:
                    job = self.out.create(JobKind.UPLOAD_KEYS, [node.name])
                    self.out.noop(job, "No post-activation keys to upload")
        except JobFailed as exc:
            return exc.error
        return None

    def _fail(self, job: Job, error: str) -> JobFailed:
        self.out.failure(job, error)
        return JobFailed(error)

    async def _build(self, node: InventoryNode, closure: SystemClosure) -> None:
        job = self.out.create(JobKind.BUILD, [node.name])
        self.out.running(job, f"Building {node.name}")
        if node.name in self.knobs.fail_build:
            for line in failure_log(closure):
                self.out.child(job, line)
            raise self._fail(job, child_error(BUILD_FAILURE_EXIT))
        if node.name in self.knobs.foreign_build:
            # Nix on an x86_64 machine without binfmt or builders (NixOS/nix,
            # LocalDerivationGoal::startBuilder); nix build exits 1.
            drv = derivation_path(closure.basename.split("-", 1)[1], closure.toplevel)
            self.out.child(
                job,
                f"error: a 'aarch64-linux' with features {{}} is required to build '{drv}', "
                "but I am a 'x86_64-linux' with features {benchmark, big-parallel, kvm, "
                "nixos-test}",
            )
            raise self._fail(job, child_error(1))
        for line in build_log(closure, self.store_dir):
            self.out.child(job, line)
        if self.knobs.build_delay > 0:
            # The node's realisation (`profile_drv.realize` in colmena's build_and_push_node,
            # src/nix/deployment/mod.rs) runs while the node holds its `--parallel` permit.
            await asyncio.sleep(self.knobs.build_delay)
        for index in range(self.knobs.extra_lines):
            if self.knobs.line_delay > 0:
                # The knob's purpose is slow output: a paced child process.
                await asyncio.sleep(self.knobs.line_delay)
            self.out.child(job, f"{node.name}-extra> [{index + 1}/{self.knobs.extra_lines}] CC obj")
        host_path = store_locally(closure, self.store_dir)
        self.out.child(job, closure.toplevel, stdout=True)
        self.out.success(job, f'Built "{closure.toplevel}"')
        if self.options.keep_result:
            roots = self.out.create(JobKind.CREATE_GC_ROOTS, [node.name])
            self.out.running(roots, "")
            keep_result(self.hive, node.name, host_path)
            self.out.success(roots, "Succeeded")

    async def _push(self, node: InventoryNode, closure: SystemClosure) -> None:
        job = self.out.create(JobKind.PUSH, [node.name])
        self.out.running(job, "Pushing system closure")
        target = SshTarget.of(node)
        invalid: list[str] = []

        async def collect(line: str, is_stdout: bool) -> None:
            if is_stdout:
                invalid.append(line.strip())
            else:
                self.out.child(job, line)

        query = ["nix-store", "--check-validity", "--print-invalid", *closure.all_paths()]
        if await run_remote(target, query, collect) != 0:
            self.out.child(job, f"error: cannot connect to '{target.destination}'")
            raise self._fail(job, child_error(1))
        if invalid:
            scheme = "ssh-ng" if self.hive.is_flake else "ssh"
            self.out.child(job, f"copying {len(invalid)} paths...")
            for path in invalid:
                self.out.child(
                    job, f"copying path '{path}' to '{scheme}://{target.destination}'..."
                )
            stream = _export_stream(closure, set(invalid))

            async def show(line: str, is_stdout: bool) -> None:
                if not is_stdout:
                    self.out.child(job, line)

            code = await run_remote(target, ["nix-store", "--import"], show, stdin_data=stream)
            if code != 0:
                raise self._fail(job, child_error(1))
        self.out.success(job, "Pushed system closure")

    async def _activate(self, node: InventoryNode, closure: SystemClosure) -> None:
        goal = self.options.goal
        job = self.out.create(JobKind.ACTIVATE, [node.name])
        self.out.running(job, "Activating system profile")
        target = SshTarget.of(node)

        async def show(line: str, is_stdout: bool) -> None:
            self.out.child(job, line, stdout=is_stdout)

        if goal in ("switch", "boot"):
            set_profile = ["nix-env", "--profile", SYSTEM_PROFILE, "--set", closure.toplevel]
            code = await run_remote(target, target.escalated(set_profile), show)
            if code != 0:
                raise self._fail(job, child_error(code))
        switch = [f"{closure.toplevel}/bin/switch-to-configuration", goal]
        code = await run_remote(target, target.escalated(switch), show)
        if code != 0:
            raise self._fail(job, child_error(code))
        self.out.success(job, GOAL_SUCCESS[goal])


def _export_stream(closure: SystemClosure, wanted: set[str]) -> bytes:
    """labsim's stand-in for `nix-store --export`: a magic line, then one JSON line per path."""
    lines = [IMPORT_STREAM_MAGIC]
    for path in closure.all_paths():
        if path not in wanted:
            continue
        files = closure.toplevel_files() if path == closure.toplevel else {}
        lines.append(json.dumps({"path": path, "files": files}))
    return ("\n".join(lines) + "\n").encode()
