"""Diagnostics as text lines, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from reconciler.errors import Diagnostic
from reconciler.model import CsvFile, Manifest


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(d: Diagnostic, level: str = "error") -> str:
    """`::error file=...,line=...,col=...::message`, escaped as the workflow command syntax requires."""
    props = [f"file={_escape_property(d.file)}"]
    if d.line:
        props.append(f"line={d.line}")
    if d.column:
        props.append(f"col={d.column}")
    message = f"{d.path}: {d.message}" if d.path else d.message
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def render_diagnostics(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    """All diagnostics in one of the formats text, github (json is `validation_json`)."""
    if fmt == "github":
        return "\n".join(github_annotation(d) for d in diagnostics)
    return "\n".join(str(d) for d in diagnostics)


def validation_summary(manifest: Manifest) -> str:
    """`3 imports, 120 records, 4,096 bytes`: the records and bytes of the CSVs the manifest manages."""
    files = [i.csv for i in manifest.imports.values() if i.csv is not None]
    unmanaged = len(manifest.imports) - len(files)
    counts = f"{len(manifest.imports)} imports" + (f" ({unmanaged} with content unmanaged)" if unmanaged else "")
    summary = f"{counts}, {sum(f.records for f in files):,} records, {sum(f.size for f in files):,} bytes"
    blocks = [(len(manifest.adopt), "to adopt"), (len(manifest.moved), "moved"), (len(manifest.removed), "removed")]
    return summary + "".join(f", {n} {what}" for n, what in blocks if n)


def _csv_json(csv: CsvFile | None) -> dict[str, object] | None:
    if csv is None:
        return None
    return {
        "path": csv.path,
        "sha256": csv.sha256,
        "size": csv.size,
        "records": csv.records,
        "identifier": csv.identifier,
        "identifier_name": csv.identifier_name,
    }


def validation_json(path: str, manifest: Manifest | None, diagnostics: Sequence[Diagnostic]) -> str:
    """The machine-readable result of `validate`; an import without csv has `"csv": null`, content unmanaged."""
    imports: dict[str, object] = {}
    blocks: dict[str, object] = {"adopt": {}, "moved": {}, "removed": []}
    if manifest is not None:
        for key, item in manifest.imports.items():
            imports[key] = {
                "title": item.title,
                "entity": item.entity.to_api(),
                "protected": item.protected,
                "metadata": item.metadata,
                "content": "managed" if item.csv is not None else "unmanaged",
                "csv": _csv_json(item.csv),
            }
        blocks = {
            "adopt": {key: a.id for key, a in manifest.adopt.items()},
            "moved": {old: m.new for old, m in manifest.moved.items()},
            "removed": sorted(manifest.removed),
        }
    result = {
        "manifest": path,
        "valid": not diagnostics,
        "errors": [asdict(d) for d in diagnostics],
        "imports": imports,
        **blocks,
    }
    return json.dumps(result, indent=2, sort_keys=True)
