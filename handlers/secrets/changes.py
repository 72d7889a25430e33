"""The four sops job kinds: rotate data keys, add a node's key, remove it, replace the k3s token.

Must not print, log or keep a secret value: values are compared by digest inside this module and
only file names, key names, public recipients and data-key fingerprints reach the summary.

Each kind edits the job's clone through `SopsWork` and checks its own result before anything is
committed: every file still decrypts with the bot's key and its values are unchanged (the k3s
token job: only the token changed), rotations really changed the data key, and an added or
removed node's recipient is (or is no longer) among the file's recipients.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from pathlib import Path

from bot.capability import CapabilityContext
from bot.config import K3sRole, Node
from bot.errors import IntegrationError, UnknownTarget, UserError
from bot.integrations.sops import SecretTree
from bot.job_run import JobKind
from handlers.secrets import messages
from handlers.secrets.files import node_keys, recipient_names
from handlers.secrets.job import SopsChange, SopsJobKind, SopsWork, remove_clone_when_done
from handlers.secrets.node_key import NodeRecipient, fetch_node_recipient
from handlers.secrets.sops_yaml import (
    add_recipient,
    recipients,
    remove_recipient,
    replace_recipient,
    rule_files,
    validate_recipient,
)

TOKEN_BYTES = 32  # 256 random bits, hex-encoded


class SopsCheckFailed(IntegrationError):
    """Raised when a change's own check fails (values changed, data key kept); nothing is pushed."""


class RotateKind(SopsJobKind):
    """`/lab sops rotate`: a new data key for every encrypted file, values unchanged."""

    name = "sops-rotate"
    action = "rotate"

    async def change(self, work: SopsWork, args: Sequence[str]) -> SopsChange:
        """Rotate each file and check its values and the new data key."""
        text = work.read_sops_yaml()
        lines: list[str] = []
        covered: set[str] = set()
        for path in await work.files():
            await work.say(messages.sops_log_step("Rotating the data key of", path.as_posix()))
            keys = await _rotate_checked(work, path)
            now = work.sops.file_recipients(path)
            covered.update(now)
            names = recipient_names(text, now)
            lines.append(messages.sops_line_rotated(path.as_posix(), keys, names))
        deploy = [name for name, key in _node_keys(work, text).items() if key in covered]
        return SopsChange(
            messages.sops_title_rotate(len(lines)), tuple(lines), deploy=tuple(deploy)
        )


class AddNodeKind(SopsJobKind):
    """`/lab sops add-node NODE [AGE_KEY]`: the node's key joins .sops.yaml and every file, or,
    for a node already there whose key changed (a reflash makes a new host key), replaces it."""

    name = "sops-add-node"
    action = "add-node"

    async def change(self, work: SopsWork, args: Sequence[str]) -> SopsChange:
        """Add the key to `.sops.yaml` (comments and anchors kept), then `sops updatekeys`."""
        node = _node(work, args[0])
        found = await _recipient(work, node, args[1] if len(args) > 1 else None)
        await work.say(messages.sops_log_recipient(node.name, found.recipient, found.source))
        text = work.read_sops_yaml()
        old = recipients(text).get(node.name)
        if old is not None:
            return await _replace_key(work, node, found, old)
        rules = work.settings.node_rules
        work.write_sops_yaml(add_recipient(text, node.name, found.recipient, rules))
        chosen = rule_files(text) if rules == "all" else list(rules)
        lines = [messages.sops_line_key_added(node.name, found.recipient, found.source, chosen)]
        for path in await work.files():
            if found.recipient in work.sops.file_recipients(path):
                continue
            await work.say(messages.sops_log_step("Updating the keys of", path.as_posix()))
            digest = await work.sops.digest(path)
            if not await work.sops.updatekeys(path):
                continue  # the node's rules do not cover this file
            await _check_values(work, path, digest)
            if found.recipient not in work.sops.file_recipients(path):
                raise SopsCheckFailed(messages.sops_check_not_recipient(path.as_posix(), node.name))
            lines.append(messages.sops_line_recipient_added(path.as_posix(), node.name))
        if len(lines) == 1:
            raise UserError(messages.sops_node_no_files(node.name, chosen))
        return SopsChange(messages.sops_title_add(node.name), tuple(lines), deploy=(node.name,))


async def _replace_key(work: SopsWork, node: Node, found: NodeRecipient, old: str) -> SopsChange:
    """The node's key in `.sops.yaml` gets its new recipient; each file it opened is
    re-encrypted for the new key (`sops updatekeys`) with a new data key, so the old key opens
    nothing written from now on."""
    if old == found.recipient:
        raise UserError(messages.sops_key_unchanged(node.name, old))
    text = work.read_sops_yaml()
    work.write_sops_yaml(replace_recipient(text, node.name, found.recipient))
    lines = [messages.sops_line_key_replaced(node.name, old, found.recipient, found.source)]
    for path in await work.files():
        if old not in work.sops.file_recipients(path):
            continue
        fingerprints, now = await _rekey(work, path, "Replacing the node's key in")
        if old in now or found.recipient not in now:
            raise SopsCheckFailed(messages.sops_check_not_recipient(path.as_posix(), node.name))
        lines.append(
            messages.sops_line_recipient_replaced(path.as_posix(), node.name, fingerprints)
        )
    return SopsChange(messages.sops_title_replace(node.name), tuple(lines), deploy=(node.name,))


class RemoveNodeKind(SopsJobKind):
    """`/lab sops remove-node NODE`: the key leaves .sops.yaml and every file, data keys rotate."""

    name = "sops-remove-node"
    action = "remove-node"

    async def change(self, work: SopsWork, args: Sequence[str]) -> SopsChange:
        """Remove the key, `sops updatekeys`, rotate, and check the node's key opens nothing."""
        node = _node(work, args[0])
        text = work.read_sops_yaml()
        keys = recipients(text)
        if node.name not in keys:
            raise UserError(messages.sops_unknown_key(node.name, list(keys)))
        recipient = keys[node.name]
        new_text = remove_recipient(text, node.name)
        work.write_sops_yaml(new_text)
        lines = [messages.sops_line_key_removed(node.name, recipient)]
        covered: set[str] = set()
        for path in await work.files():
            if recipient not in work.sops.file_recipients(path):
                continue
            fingerprints, now = await _rekey(work, path, "Removing the key from")
            if recipient in now:
                raise SopsCheckFailed(
                    messages.sops_check_still_recipient(path.as_posix(), node.name)
                )
            covered.update(now)
            line = messages.sops_line_recipient_removed(path.as_posix(), node.name, fingerprints)
            lines.append(line)
        deploy = [name for name, key in _node_keys(work, new_text).items() if key in covered]
        return SopsChange(
            messages.sops_title_remove(node.name),
            tuple(lines),
            notes=(messages.sops_note_removed_node(node.name),),
            deploy=tuple(deploy),
        )


class RotateK3sTokenKind(SopsJobKind):
    """`/lab sops rotate-k3s-token`: a strong new k3s token, written with `sops set`."""

    name = "sops-rotate-k3s-token"
    action = "rotate-k3s-token"

    async def change(self, work: SopsWork, args: Sequence[str]) -> SopsChange:
        """Set a new random token; check only the token changed; list the k3s-side steps."""
        path, key = work.settings.k3s_token_file, work.settings.k3s_token_key
        if path not in await work.files():
            raise UserError(messages.sops_token_file_unmatched(path.as_posix()))
        before = await work.sops.decrypt(path)
        old = before.pop(key, None)
        if isinstance(old, str):
            work.run.redactor.add_secret(old)
        others = _tree_digest(before)
        del before, old
        token = secrets.token_hex(TOKEN_BYTES)
        work.run.redactor.add_secret(token)
        await work.say(messages.sops_log_step(f"Setting a new `{key}` in", path.as_posix()))
        await work.sops.set(path, [key], token)
        after = await work.sops.decrypt(path)
        matches = after.pop(key, None) == token
        same_others = _tree_digest(after) == others
        del after, token
        if not matches or not same_others:
            raise SopsCheckFailed(messages.sops_check_token(path.as_posix(), key))
        nodes = [n for n in work.run.config.inventory.nodes if n.k3s_role is not K3sRole.none]
        servers = [n.name for n in nodes if n.k3s_role is K3sRole.server]
        agents = [n.name for n in nodes if n.k3s_role is K3sRole.agent]
        prefix = work.run.config.slack.command
        return SopsChange(
            messages.sops_title_token(key),
            (messages.sops_line_token_replaced(path.as_posix(), key, TOKEN_BYTES * 8),),
            notes=messages.sops_k3s_steps(prefix, servers, agents, path.as_posix(), key),
            deploy=(*servers, *agents),
        )


SOPS_KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (RotateKind(), AddNodeKind(), RemoveNodeKind(), RotateK3sTokenKind())
}


# --- checks -------------------------------------------------------------------------------------


async def _rotate_checked(work: SopsWork, path: Path, digest: str | None = None) -> tuple[str, str]:
    """Rotate `path`, check its values and that the data key is new; both key fingerprints."""
    digest = digest or await work.sops.digest(path)
    before = await work.sops.data_key_fingerprint(path)
    await work.sops.rotate(path)
    await _check_values(work, path, digest)
    after = await work.sops.data_key_fingerprint(path)
    if after == before:
        raise SopsCheckFailed(messages.sops_check_key_kept(path.as_posix()))
    return before, after


async def _rekey(work: SopsWork, path: Path, step: str) -> tuple[tuple[str, str], list[str]]:
    """`sops updatekeys` (the file's recipients follow .sops.yaml), then a checked rotation;
    the data key's fingerprints before and after, and the file's recipients now."""
    await work.say(messages.sops_log_step(step, path.as_posix()))
    digest = await work.sops.digest(path)
    await work.sops.updatekeys(path)
    fingerprints = await _rotate_checked(work, path, digest)
    return fingerprints, work.sops.file_recipients(path)


async def _check_values(work: SopsWork, path: Path, digest: str) -> None:
    """The file still decrypts with the bot's key to the same values (compared by digest)."""
    if await work.sops.digest(path) != digest:
        raise SopsCheckFailed(messages.sops_check_values(path.as_posix()))


def _tree_digest(tree: SecretTree) -> str:
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _node(work: SopsWork, name: str) -> Node:
    inventory = work.run.config.inventory
    node = inventory.node(name)
    if node is None:
        raise UnknownTarget(name, [n.name for n in inventory.nodes])
    return node


def _node_keys(work: SopsWork, text: str) -> dict[str, str]:
    return node_keys(text, [node.name for node in work.run.config.inventory.nodes])


async def _recipient(work: SopsWork, node: Node, given: str | None) -> NodeRecipient:
    if given is not None:
        validate_recipient(given)
        return NodeRecipient(node.name, given, messages.sops_key_source_given())
    return await fetch_node_recipient(work.run.config.ssh, node)


def start(context: CapabilityContext) -> None:
    """At start: a sops job's clone is removed however the job ends (no schedule of its own)."""
    remove_clone_when_done(context.jobs, context.config, SOPS_KINDS)
