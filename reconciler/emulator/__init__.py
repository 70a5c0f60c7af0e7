"""A faithful local emulator of the Exa Websets Imports API, for offline trials and tests."""

from __future__ import annotations

from reconciler.emulator.faults import FaultConfig, Latency, Rate
from reconciler.emulator.server import DEFAULT_API_KEY, Emulator, EmulatorConfigError

__all__ = ["DEFAULT_API_KEY", "Emulator", "EmulatorConfigError", "FaultConfig", "Latency", "Rate"]
