"""websets-reconciler: declarative management of Exa Websets imports."""

from __future__ import annotations

__version__ = "0.1.0"
