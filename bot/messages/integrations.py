"""What the clients of outside systems say when they fail: SSH, nix and colmena.

Part of `bot.messages`: plain mrkdwn strings, never handed a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages.core import _names


def ssh_unreachable(node: str, address: str, reason: str) -> str:
    """SSH to a node failed (refused, timed out, dropped)."""
    return f"{node} is unreachable over SSH ({address}): {reason}."


def ssh_host_key_changed(node: str, address: str, known_hosts: str) -> str:
    """The node's host key is not the one in known_hosts."""
    return (
        f"The SSH host key of {node} ({address}) has changed: it does not match {known_hosts}. "
        "labbot will not connect until an admin checks the node and updates known_hosts."
    )


def ssh_host_key_unknown(node: str, address: str, known_hosts: str) -> str:
    """known_hosts has no key for the node."""
    return f"{known_hosts} has no host key for {node} ({address}); labbot never trusts a key on first use."


def ssh_login_refused(node: str, user: str) -> str:
    """The node refused labbot's key."""
    return f"{node} refused the SSH login of `{user}` with labbot's key."


def ssh_command_timed_out(node: str, command: str, seconds: float) -> str:
    """A remote command ran too long."""
    return f"`{command}` on {node} did not finish within {seconds:g} s."


def nix_output_unreadable(what: str, detail: str) -> str:
    """nix printed something labbot cannot parse."""
    return f"The output of `nix {what}` could not be read ({detail})."


def nix_failed(what: str, detail: str) -> str:
    """A nix command failed."""
    return f"`nix {what}` failed: {detail}"


_COLMENA_EXITS = {
    0: "colmena exited 0: every selected node reached its goal.",
    1: "colmena exited 1: at least one node failed (the others ran to the end), or evaluation failed.",
    2: "colmena exited 2: it rejected its command line (a usage error; is the colmena version the one labbot expects?).",
    101: "colmena exited 101: it panicked (on colmena main, usually a missing or invalid hive).",
}


def colmena_exit(code: int) -> str:
    """One sentence per colmena exit status (zhaofengli/colmena 0.4.0)."""
    if code < 0:
        return f"colmena was killed by signal {-code}."
    return _COLMENA_EXITS.get(code, f"colmena exited {code}, a status it does not document.")


def colmena_timed_out(what: str, seconds: float) -> str:
    """colmena ran past its timeout and was stopped."""
    return f"`colmena {what}` was stopped after {seconds:.0f} s (its timeout)."


def colmena_eval_failed(exit_sentence: str) -> str:
    """`colmena eval` of the node list failed."""
    return f"colmena could not list the hive's nodes: {exit_sentence}"


def colmena_eval_unreadable(text: str) -> str:
    """`colmena eval` printed no JSON list."""
    return f"colmena's node list was not a JSON list of names: `{text}`"


def colmena_build_failed(
    failures: dict[str, str], missing: Sequence[str], exit_sentence: str
) -> str:
    """`colmena build` failed for some nodes."""
    parts = [f"{node}: {why}" for node, why in failures.items()]
    parts += [
        f"{node}: no built path in colmena's output" for node in missing if node not in failures
    ]
    detail = "; ".join(parts)
    return f"The build failed. {exit_sentence}" + (f" {detail}." if detail else "")


def colmena_selected_nothing(nodes: Sequence[str]) -> str:
    """colmena said no hosts were selected (and would have exited 0)."""
    return (
        f'colmena selected none of {_names(nodes)} ("No hosts selected"), so nothing was deployed.'
    )


def cannot_build_for(needed: str, here: str, nodes: Sequence[str]) -> str:
    """Nix on this machine cannot build the nodes' system."""
    return (
        f"This machine ({here}) cannot build for {_names(nodes)}, which need{'s' if len(nodes) == 1 else ''} "
        f"{needed}. Pick one: binfmt emulation here (on NixOS, services.labbot.emulateAarch64, "
        f'or boot.binfmt.emulatedSystems = [ "{needed}" ]), a {needed} remote builder '
        "(nix.buildMachines), or building on the nodes (colmena's deployment.buildOnTarget). "
        "`labbot doctor` says which works."
    )


def boot_parts(parts: Sequence[str]) -> str:
    """`kernel, initrd, kernel modules`: the boot links that differ (`node_facts.BOOT_LINKS`)."""
    return ", ".join("kernel modules" if p == "kernel-modules" else p for p in parts)
