"""BMC power, UART and flashing.

The capability's own sentences, beside the engine's in `bot.messages`: plain mrkdwn strings,
never handed a secret value.

Long because: one short function per sentence the user can see, kept together so the wording
is reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages.core import _names, outside
from bot.redact import escape_mrkdwn

# --- power, UART and flashing (handlers/bmc/power.py, uart.py, flash*.py) ------------------------


def _bytes(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _console_text(text: str) -> str:
    """Console text inside a code block: no mentions, links or early end of the block."""
    return escape_mrkdwn(text).replace("```", "'''")


def node_left_inventory(node: str) -> str:
    """A queued job's node was removed from the inventory meanwhile."""
    return f"`{node}` is no longer in the inventory. Nothing was changed."


def bmc_power_view(recorded: bool | None) -> str:
    """The BMC's power record of a slot: `BMC: on`, `BMC: off` or `BMC: unknown`."""
    return "BMC: " + ("unknown" if recorded is None else "on" if recorded else "off")


_SSH_VIEWS = {
    "reachable": "reachable",
    "refused": "unreachable (connection refused)",
    "timeout": "unreachable (timed out)",
    "unreachable": "unreachable ({detail})",
    "host key changed": "host key changed (labbot will not log in)",
    "host key unknown": "host key not in known_hosts (labbot will not log in)",
    "login refused": "login refused ({detail})",
    "not configured": "not checked (no `ssh` section in the config)",
}


def ssh_view(state: str, detail: str) -> str:
    """What an SSH probe found: `SSH: reachable`, `SSH: unreachable (connection refused)`; the
    detail may be the node's own words (an SSH disconnect's description), so escaped."""
    view = _SSH_VIEWS.get(str(state), "{detail}")
    return "SSH: " + view.format(detail=outside(detail or str(state)))


def power_status_board(board: str, bmc: str, lines: Sequence[str], error: str) -> str:
    """`/lab power status`: one board's slots, the BMC's record beside SSH."""
    head = (
        f"*Power of board `{board}`*: BMC `{bmc}`'s record (its bookkeeping, not a measurement) "
        "beside what SSH shows."
    )
    tail = f"\n:warning: {outside(error)}" if error else ""
    return head + "\n" + "\n".join(lines) + tail


def power_status_line(slot: int, node: str | None, recorded: bool | None, ssh: str | None) -> str:
    """One slot in `/lab power status`."""
    if node is None:
        return f"• slot {slot}: no node in the inventory · {bmc_power_view(recorded)}"
    return f"• slot {slot} `{node}`: {bmc_power_view(recorded)} · {ssh}"


_POWER_TITLES = {"on": "Power on {node}", "off": "Power off {node}", "reset": "Reset {node}"}


def power_title(node: str, action: str) -> str:
    """A power job's title."""
    return _POWER_TITLES.get(action, "Power {action} {node}").format(node=node, action=action)


def power_plan(node: str, action: str, slot: int, bmc: str, recorded: bool | None, ssh: str) -> str:
    """The approval text of `power NODE off|reset`."""
    what = (
        "a hard power cycle (off, 1 s, on) without a clean shutdown; the BMC does not update "
        "its power record for a reset"
        if action == "reset"
        else "a hard power cut without a clean shutdown: whatever runs on the node stops"
    )
    return (
        f"*{power_title(f'`{node}`', action)}* (slot {slot} on BMC `{bmc}`)\n"
        f"Now: {bmc_power_view(recorded)} · {ssh}\n"
        f"This is {what}."
    )


def power_button(action: str) -> str:
    """The Apply button of a power job."""
    return "Reset" if action == "reset" else "Power off"


def power_done(node: str, action: str, slot: int, bmc: str, ssh: str, seconds: float) -> str:
    """A power job's verdict when SSH agrees with the new state."""
    where = f"slot {slot} on BMC `{bmc}`"
    if action == "off":
        return f"`{node}` is off ({where}): BMC: off · {ssh}."
    if action == "reset":
        return f"`{node}` was power-cycled ({where}) and is back: {ssh} after {seconds:.1f} s."
    return f"`{node}` is on ({where}): BMC: on · {ssh} after {seconds:.1f} s."


def power_ssh_disagrees(
    node: str, action: str, slot: int, ssh: str, seconds: float, caveat: str
) -> str:
    """A power job's verdict when SSH does not follow the BMC within the wait."""
    if action == "off":
        return (
            f"Slot {slot} was switched off, but `{node}` still answers after {seconds:.0f} s "
            f"({ssh}): check which slot it really sits in. {caveat}"
        )
    return (
        f"Slot {slot} was switched on, but `{node}` did not answer within {seconds:.0f} s "
        f"({ssh}): it may still be booting (watch `/lab uart {node}`). {caveat}"
    )


def uart_nothing_new(node: str, slot: int) -> str:
    """`/lab uart NODE` when the console printed nothing since the last read."""
    return f"Nothing new on `{node}`'s console (slot {slot}) since the last read."


def uart_output(node: str, slot: int, lines: Sequence[str], hidden: int) -> str:
    """`/lab uart NODE`: the console's new lines."""
    more = f"; {hidden} earlier new line(s) not shown (`--lines N` shows more)" if hidden else ""
    body = _console_text("\n".join(lines))
    return f"*Console of `{node}`* (slot {slot}), new since the last read{more}:\n```\n{body}\n```"


def uart_line_empty() -> str:
    """`uart send` with only spaces."""
    return "The line to send is empty. Nothing was sent."


def uart_line_too_long(length: int, limit: int) -> str:
    """`uart send` with an oversize line."""
    return (
        f"That line is {length} characters long; `uart send` types at most {limit}. "
        "Nothing was sent."
    )


def uart_line_control_characters() -> str:
    """`uart send` with control characters (tab, escape, …)."""
    return (
        "That line contains control characters (tab, escape and the like), which would do more "
        "than type text on the console. Nothing was sent."
    )


def uart_send_title(node: str) -> str:
    """A `uart send` job's title."""
    return f"Type on {node}'s console"


def uart_send_plan(node: str, slot: int, bmc: str, line: str) -> str:
    """The approval text of `uart send`: the exact line."""
    return (
        f"*Type on `{node}`'s console* (slot {slot} on BMC `{bmc}`) exactly this line, then "
        f"Enter:\n```\n{_console_text(line)}\n```\n"
        "It goes to whatever runs on the console (a login prompt, a shell, a boot loader)."
    )


def uart_send_button() -> str:
    """The Apply button of `uart send`."""
    return "Send"


def uart_sent(node: str, slot: int, line: str) -> str:
    """`uart send` verdict."""
    return (
        f"Typed the approved line ({len(line)} characters) on `{node}`'s console (slot {slot}). "
        f"Read the answer with `/lab uart {node}`."
    )


def flash_title(node: str) -> str:
    """A flash job's title."""
    return f"Flash {node}"


def flash_url_zstd(url: str) -> str:
    """A `.zst` URL, which the BMC would write still compressed."""
    return (
        f"The BMC cannot unpack `.zst` images it downloads, so `{url}` would be written "
        "compressed. Give a `.img` or `.img.xz` URL, or a local `.zst` file (labbot unpacks "
        "those). Nothing was run."
    )


def flash_image_form(image: str) -> str:
    """IMAGE is neither an absolute path nor a URL."""
    return (
        f"`{image}` is neither an absolute path nor an http(s) URL. Give "
        "`/path/to/image.img[.zst]`, `https://…/image.img[.xz]`, or nothing to build the image. "
        "Nothing was run."
    )


def flash_image_not_allowed(image: str, directories: Sequence[str]) -> str:
    """A local IMAGE outside `flash.image_dirs` (or missing)."""
    where = _names(directories) if directories else "none are configured: set `flash.image_dirs`"
    return (
        f"`{image}` is not a readable file inside labbot's image directories ({where}). "
        "Nothing was run."
    )


def flash_no_image_attribute(node: str, module: str) -> str:
    """No IMAGE and no image attribute for the node's module."""
    return (
        f"No image is configured for `{node}`'s module ({module}): add it to "
        "`flash.image_attributes`, or give an IMAGE. Nothing was run."
    )


def flash_no_flake() -> str:
    """No IMAGE and no flake to build one from."""
    return (
        "labbot has no infra flake to build the image from (set `flash.flake_dir` or "
        "`colmena.flake_dir`), so give an IMAGE. Nothing was run."
    )


def flash_measuring_url(url: str) -> str:
    """Log line: the URL is read once for its size and sha256."""
    return f"Reading {url} once for its size and sha256 (the BMC downloads it again itself)."


def flash_measuring(path: str) -> str:
    """Log line: the image file is measured."""
    return f"Measuring {path} (size and sha256 of the bytes the BMC receives)."


def flash_build_failed(attribute: str, exit_code: int, timed_out: bool) -> str:
    """`nix build` of the image failed."""
    how = "timed out" if timed_out else f"failed (exit {exit_code})"
    return f"`nix build .#{attribute}` {how}; its log is in this thread."


def flash_build_no_image(attribute: str, output: str) -> str:
    """The build output holds no disk image."""
    return (
        f"The output of `.#{attribute}` ({output}) holds no disk image (`*.img`, `*.img.zst`, "
        "`*.img.xz`); check that the attribute builds an SD image."
    )


def flash_image_gone(path: str) -> str:
    """Approval void: the image file disappeared."""
    return f"the image file {path} is gone"


def flash_image_changed(path: str) -> str:
    """Approval void: the image file changed."""
    return f"the image file {path} changed since it was measured"


def flash_checking_bmc(bmc: str) -> str:
    """Log line: the plan starts with the BMC."""
    return f"Checking BMC {bmc}: login, firmware, flash status."


def flash_bmc_busy(bmc: str, process: str) -> str:
    """The BMC runs a flash labbot did not start."""
    return (
        f"BMC `{bmc}` is already running a flash ({process or 'unknown job'}) that labbot did "
        "not start, and a new request would silently abort it. Wait for it to end, then run the "
        "command again."
    )


def flash_plan_failed(node: str, error: str) -> str:
    """The flash could not be planned (the error's text may quote the BMC or nix)."""
    return f"Could not prepare the flash of `{node}`: {outside(error)}"


def flash_image_unusable(node: str, sentence: str) -> str:
    """The image could not be built or found: `sentence` is labbot's own (`ImageBuildFailed`)."""
    return f"Could not prepare the flash of `{node}`: {sentence}"


def flash_image_line(name: str, size: int, sha256: str) -> str:
    """Log line: the measured image."""
    return f"Image {name}: {_bytes(size)} ({size} bytes), sha256 {sha256}"


def flash_plan(
    *,
    node: str,
    slot: int,
    bmc: str,
    firmware: str,
    image: str,
    built_from: str | None,
    size: int,
    sha256: str,
    recorded_power: bool | None,
    ssh: str,
) -> str:
    """The approval text of a flash: node, slot, image, size and sha256."""
    built = f" (built from `.#{built_from}`)" if built_from else ""
    return (
        f"*Flash `{node}`*: slot {slot} on BMC `{bmc}` (firmware {firmware})\n"
        f"• Image: `{image}`{built}\n"
        f"• Size: {_bytes(size)} ({size} bytes as written)\n"
        f"• sha256: `{sha256}`\n"
        f"• Now: {bmc_power_view(recorded_power)} · {ssh}\n"
        f"This erases everything on `{node}`. The BMC powers the slot off to flash it; labbot "
        "then powers it on, waits for SSH and records the node's new host key."
    )


def flash_button() -> str:
    """The Apply button of a flash."""
    return "Flash"


def flash_phase_line(node: str, phase: str) -> str:
    """Log line: the BMC moved to writing or verifying."""
    if phase == "verifying":
        return f"Written; the BMC is verifying {node} (reading everything back)."
    return f"The BMC is writing the image to {node}."


def flash_progress(node: str, phase: str, written: int, total: int) -> str:
    """The live progress line of a flash (the stream's title)."""
    fraction = min(1.0, written / total) if total else 0.0
    filled = round(fraction * 20)
    bar = "█" * filled + "░" * (20 - filled)
    return f"Flashing {node}: {phase} `{bar}` {fraction:.0%} ({_bytes(written)} of {_bytes(total)})"


def flash_progress_none() -> str:
    """Where a flash stopped, when it never reported progress."""
    return "before the BMC reported any progress"


def flash_progress_at(phase: str, fraction: float) -> str:
    """Where a flash stopped."""
    return f"while {phase}, at {fraction:.0%}"


def flash_starting(node: str, slot: int, bmc: str, name: str) -> str:
    """Log line: the flash starts."""
    return f"Flashing {name} onto {node} (slot {slot}) through BMC {bmc}."


def flash_timed_out(node: str, minutes: float, where: str) -> str:
    """A flash ran past `flash.timeout_minutes`."""
    return (
        f"The flash of `{node}` ran longer than {minutes:g} min ({where}), so labbot cancelled it "
        "on the BMC; the node is off and its storage is partly written. Check the BMC, then "
        "flash again (raise `flash.timeout_minutes` for big images)."
    )


def flash_failed(node: str, error: str) -> str:
    """A flash failed on the BMC (the error is bmc_failures' actionable sentence, quoting bmcd)."""
    return f"Flashing `{node}` failed. {outside(error)}"


def flash_cancelled(node: str, where: str) -> str:
    """A flash was cancelled on the BMC."""
    return (
        f"The flash of `{node}` was cancelled on the BMC ({where}). The BMC powers the node off; "
        "its storage is partly written, so flash it again before using it."
    )


def flash_written(node: str, seconds: float) -> str:
    """Log line: the BMC is done."""
    return f"The BMC finished flashing {node} in {seconds:.0f} s; powering it on."


def flash_power_on_failed(node: str, error: str) -> str:
    """Flashed, but the power-on failed."""
    return (
        f"`{node}` was flashed, but powering it on failed: {outside(error)} "
        f"Then run `/lab power {node} on`."
    )


def flash_done_unchecked(node: str, sha256: str) -> str:
    """Flashed and powered on, without SSH configured."""
    return (
        f"`{node}` was flashed (sha256 `{sha256[:12]}…`) and powered on. SSH is not configured, "
        "so labbot did not check that it came up."
    )


def flash_waiting_for_ssh(node: str, address: str) -> str:
    """Log line: waiting for the fresh node's SSH."""
    return f"Waiting for {node} to answer SSH on {address}."


def flash_ssh_not_back(node: str, seconds: float) -> str:
    """The flashed node never presented a host key."""
    return (
        f"`{node}` was flashed and powered on, but presented no SSH host key within "
        f"{seconds:.0f} s. Watch it boot with `/lab uart {node}`; the image may lack SSH or the "
        "node may have another address."
    )


def flash_host_key_trusted(node: str, fingerprint: str, known_hosts: str, recorded: str) -> str:
    """Thread message: the fresh node's host key was recorded (trust on first use)."""
    what = {
        "replaced": "replacing its old key",
        "added": "it had no entry before",
        "unchanged": "the same key as before",
    }.get(recorded, recorded)
    return (
        f":key: `{node}` presented host key `{fingerprint}`; labbot recorded it in "
        f"`{known_hosts}` ({what}). This is trust on first use: the fresh image made a new key "
        "on its first boot, so there is no earlier key to check it against, and labbot accepted "
        "the first key its just-flashed node presented. Compare the fingerprint on the node's "
        "console if you want to be sure."
    )


def flash_login_failed(node: str, ssh: str) -> str:
    """The flashed node has a host key but refuses labbot."""
    return (
        f"`{node}` was flashed and presents a host key, but labbot cannot log in ({ssh}); check "
        "that the image authorizes labbot's SSH key for the deploy user."
    )


def flash_succeeded(node: str, sha256: str, seconds: float, fingerprint: str, prefix: str) -> str:
    """A flash's verdict, with the next steps."""
    return (
        f"`{node}` was flashed (sha256 `{sha256[:12]}…`, {seconds:.0f} s), powered on and answers "
        f"SSH with host key `{fingerprint}`. Its age key follows the new host key, so first "
        f"`{prefix} sops add-node {node}`: it replaces the node's key in .sops.yaml and "
        f"re-encrypts the secrets for it (a PR to merge); then `{prefix} deploy {node}` installs "
        "its full configuration."
    )


def flash_known_hosts_unwritable(node: str, path: str, reason: str) -> str:
    """The fresh node's host key could not be recorded."""
    return (
        f"`{node}` was flashed and is up, but labbot could not record its new host key in "
        f"`{path}` ({reason}), so labbot cannot log in to it yet; fix the file's permissions "
        "and add the node's key there (e.g. with `ssh-keyscan`)."
    )


def deploy_offer(node: str) -> str:
    """The offer after a successful flash."""
    return (
        f"`{node}` runs the pre-baked image now. Deploy its full configuration? "
        "The deploy shows its plan and asks for approval as usual."
    )


def deploy_offer_started(node: str, job_id: int) -> str:
    """The clicker started the offered deploy."""
    return f"Started job {job_id}: deploy `{node}`. Its plan and approval follow in its thread."


def power_on_offer_started(node: str, job_id: int) -> str:
    """The clicker powered the node on after an interrupted flash."""
    return f"Started job {job_id}: power `{node}` on. Its result follows in its thread."


def power_on_offer_taken(node: str, job_id: int) -> str:
    """The power on was already started from this offer (or by hand) after the flash."""
    return f"Job {job_id} already powers `{node}` on after this flash. Nothing more was started."


def deploy_offer_taken(node: str, job_id: int) -> str:
    """The offer was already taken."""
    return f"Job {job_id} already deploys `{node}` after this flash. Nothing more was started."


# --- after an interruption ----------------------------------------------------------------


def flash_interrupted_power(job_id: int, node: str, bmc: str, slot: int, power: bool | None) -> str:
    """An interrupted flash: the slot's power as the BMC records it, and what to do."""
    state = {True: "on", False: "off", None: "unknown"}[power]
    then = (
        f"its storage may be partly written: flash it again, or power it on (`/lab power {node} "
        "on`) to try what is there."
        if power is not True
        else "check it with `/lab status` before using it: its storage may be partly written."
    )
    return (
        f"Checked after the interruption of job {job_id}: `{node}` (slot {slot} on BMC `{bmc}`) "
        f"is powered *{state}*; {then}"
    )


def flash_interrupted_power_unknown(job_id: int, node: str, bmc: str, error: str) -> str:
    """An interrupted flash whose slot power could not be read."""
    return (
        f"Checked after the interruption of job {job_id}: BMC `{bmc}` did not say whether "
        f"`{node}` has power ({outside(error)}). `/lab power status` asks again."
    )


def reset_offer_started(node: str, job_id: int) -> str:
    """The clicker started a BMC reset of a node that did not come back from a reboot."""
    return (
        f"Started job {job_id}: power `{node}` reset. Its approval and result follow in its thread."
    )


def reset_offer_taken(node: str, job_id: int) -> str:
    """A reset was already started after this reboot."""
    return f"Job {job_id} already resets `{node}` after this reboot. Nothing more was started."
