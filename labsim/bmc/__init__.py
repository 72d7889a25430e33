"""Emulated Turing Pi 2 BMC (bmcd 2.3.4 / firmware 2.1.x) for labsim and the tests.

Speaks the real BMC's HTTPS API (turing-machines/bmcd); it never contacts real hardware.
"""

from __future__ import annotations

from labsim.bmc.board import NodeAuxInfo, PowerCallback, PowerReason
from labsim.bmc.certificate import BMC_CERT_COMMON_NAME
from labsim.bmc.emulator import BmcEmulator
from labsim.bmc.flash_job import CRC_MISMATCH, MODULE_NOT_FOUND, FlashedImage, FlashProgress
from labsim.bmc.uart import UartLineCallback

__all__ = [
    "BMC_CERT_COMMON_NAME",
    "CRC_MISMATCH",
    "MODULE_NOT_FOUND",
    "BmcEmulator",
    "FlashProgress",
    "FlashedImage",
    "NodeAuxInfo",
    "PowerCallback",
    "PowerReason",
    "UartLineCallback",
]
