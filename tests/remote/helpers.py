"""Values for client tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from reconciler.model import CsvFile


def csv_file(path: Path, content: bytes) -> CsvFile:
    """Write `content` to `path` and describe it as a plan would have: its size and sha256."""
    path.write_bytes(content)
    return CsvFile(
        path=path.name,
        display=f"data/{path.name}",
        absolute=str(path),
        identifier=0,
        identifier_name="url",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        records=content.count(b"\n") - 1,
        columns=1,
    )
