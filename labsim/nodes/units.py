"""The simulated nodes' systemd units: their descriptions, as `systemctl` and the console show them."""

from __future__ import annotations

UNIT_DESCRIPTIONS = {
    "k3s.service": "k3s service",
    "sshd.service": "SSH Daemon",
    "nginx.service": "Nginx Web Server",
    "longhorn-iscsi.service": "iSCSI initiator for Longhorn",
    "systemd-networkd-wait-online.service": "Wait for Network to be Configured",
}


def describe_unit(unit: str) -> str:
    """The unit's Description= (the unit name itself when unknown, as systemd does)."""
    return UNIT_DESCRIPTIONS.get(unit, unit)
