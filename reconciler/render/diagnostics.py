"""Diagnostics as text lines, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from reconciler.errors import Diagnostic
from reconciler.model import Manifest


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


def validation_json(path: str, manifest: Manifest | None, diagnostics: Sequence[Diagnostic]) -> str:
    """The machine-readable result of `validate`."""
    imports = {}
    if manifest is not None:
        for key, item in manifest.imports.items():
            imports[key] = {
                "title": item.title,
                "entity": item.entity.to_api(),
                "protected": item.protected,
                "metadata": item.metadata,
                "csv": {
                    "path": item.csv.path,
                    "sha256": item.csv.sha256,
                    "size": item.csv.size,
                    "records": item.csv.records,
                    "identifier": item.csv.identifier,
                    "identifier_name": item.csv.identifier_name,
                },
            }
    result = {
        "manifest": path,
        "valid": not diagnostics,
        "errors": [asdict(d) for d in diagnostics],
        "imports": imports,
    }
    return json.dumps(result, indent=2, sort_keys=True)
