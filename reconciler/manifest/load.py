"""Manifest file -> desired state, with every problem reported at its file, line and field.

websets.yaml --read_yaml--> values + positions --schema--> issues
                                  |                          |
                          semantics (paths, stamps) -> CSV inspection, once per file
                                  |
                              Manifest (or ManifestInvalid with all the diagnostics)
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import Diagnostic, ManifestInvalid
from reconciler.files import RefusedFile, read_regular, refuse_unless_regular
from reconciler.manifest.blocks import read_blocks
from reconciler.manifest.csvinspect import CsvFacts, Identifier, Recorded, inspect_csv
from reconciler.manifest.schema import schema_issues
from reconciler.manifest.yamlload import Path_, Position, Positions, YamlError, read_yaml
from reconciler.model import CsvFile, DesiredImport, Entity, LockSettings, Manifest, Safety, is_reserved
from reconciler.remote.pacing import MIN_RATE

_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:")
MAX_MANIFEST_BYTES = 16_000_000  # ten thousand imports take about 1 MB


class RecordedCsv(Recorded, Protocol):
    """A lockfile entry as the loader reads it: the CSV path it names, and what was recorded of it."""

    @property
    def path(self) -> str: ...


# Given the manifest's owner, the lockfile's entries by key (empty when there is no usable lockfile).
RecordedLookup = Callable[[str], Mapping[str, RecordedCsv]]


def dotted(path: Path_, document: Any = None) -> str:
    """`('imports', 'a', 'csv')` -> `imports.a.csv`, and `('moved', 1, 'from')` -> `moved[1].from` where
    `document` holds a list there; a key holding a newline or another control is escaped."""
    text, node = "", document
    for part in path:
        if isinstance(node, list) and type(part) is int:
            text += f"[{part}]"
            node = node[part] if 0 <= part < len(node) else None
            continue
        name = str(part)
        text += ("." if text else "") + (name if name.isprintable() else repr(name)[1:-1])
        node = node.get(part) if isinstance(node, dict) else None
    return text


class _Report:
    """Collects diagnostics for one manifest."""

    def __init__(self, file: str, positions: Positions, document: Any) -> None:
        self.file = file
        self.positions = positions
        self.document = document
        self.items: list[Diagnostic] = []
        self.bad_paths: set[Path_] = set()

    def at(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.at_position(path, self.positions.of_key(path) if key else self.positions.of_value(path), message)

    def at_position(self, path: Path_, position: Position, message: str) -> None:
        self.items.append(Diagnostic(self.file, position.line, position.column, dotted(path, self.document), message))
        self.bad_paths.add(path)

    def in_file(self, file: str, line: int, path: Path_, message: str) -> None:
        self.items.append(Diagnostic(file, line, 0, dotted(path), message))

    def spoiled(self, prefix: Path_) -> bool:
        """Whether any problem was already reported inside `prefix`."""
        return any(p[: len(prefix)] == prefix for p in self.bad_paths)


def _non_string_keys(value: Any, path: Path_ = ()) -> Iterator[Path_]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield (*path, key)
            else:
                yield from _non_string_keys(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_string_keys(item, (*path, i))


def _plain_file(root: Path, real_root: Path, raw: str, folders: dict[str, Path | None]) -> Path | None:
    """The common case in one lstat: a regular file, not a link, in a folder that resolves inside the
    manifest's (each folder is resolved once); None for anything else, which the full checks then judge."""
    folder, name = os.path.split(raw)
    if name in ("", ".", ".."):
        return None
    if folder not in folders:
        try:
            real: Path | None = Path(os.path.realpath(root / folder))
        except (OSError, RuntimeError, ValueError):
            real = None
        folders[folder] = real if real is not None and real.is_relative_to(real_root) else None
    real_folder = folders[folder]
    if real_folder is None:
        return None
    target = real_folder / name
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return None
    return target if stat.S_ISREG(mode) else None


def _csv_location(
    root: Path, real_root: Path, raw: str, folders: dict[str, Path | None]
) -> tuple[Path | None, str | None]:
    """Resolve a manifest CSV path inside the manifest's folder, or say why it is refused."""
    if "\x00" in raw:
        return None, "the path contains a NUL character"
    if raw.startswith(("/", "\\")) or _WINDOWS_ABSOLUTE.match(raw):
        return None, f"{raw!r} is absolute; give a path relative to the manifest's folder"
    if "\\" in raw:
        return None, f"{raw!r} contains '\\'; use '/' between folders"
    if os.path.normpath(raw).split(os.sep)[0] == "..":
        return None, f"{raw!r} leaves the manifest's folder; CSV files must be inside it"
    plain = _plain_file(root, real_root, raw, folders)
    if plain is not None:
        return plain, None
    try:
        target = (root / raw).resolve()
    except RuntimeError:  # Python < 3.13 reports a loop of symbolic links so
        return None, f"{raw!r} is a loop of symbolic links"
    except OSError as exc:
        return None, f"{raw!r} cannot be resolved: {exc.strerror}"
    if not target.is_relative_to(real_root):
        return None, f"{raw!r} resolves outside the manifest's folder through a symbolic link"
    try:
        refuse_unless_regular(target.stat().st_mode)
    except FileNotFoundError:
        return None, f"{raw!r} does not exist"
    except RefusedFile as exc:
        return None, f"{raw!r} is {exc}"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"{raw!r} is a loop of symbolic links"
        return None, f"{raw!r} cannot be read: {exc.strerror}"
    return target, None


def _read_text(path: Path) -> str:
    file = str(path)
    try:
        data = read_regular(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise ManifestInvalid([Diagnostic(file, 0, 0, "", "no such file")]) from None
    except RefusedFile as exc:
        raise ManifestInvalid([Diagnostic(file, 0, 0, "", str(exc))]) from None
    except OSError as exc:
        reason = "a loop of symbolic links" if exc.errno == errno.ELOOP else exc.strerror
        raise ManifestInvalid([Diagnostic(file, 0, 0, "", f"cannot read the manifest: {reason}")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestInvalid([Diagnostic(file, line, 0, "", "the manifest is not valid UTF-8")]) from None


def load_manifest(manifest_path: str | os.PathLike[str], recorded: RecordedLookup | None = None) -> Manifest:
    """Read and check a manifest and its CSVs; raise ManifestInvalid listing every problem.

    With `recorded`, a CSV that the lockfile entry of its key records byte for byte (size and sha256) is
    hashed but not parsed again; `validate` passes none, so that it checks every CSV in full."""
    path = Path(manifest_path)
    file = str(manifest_path)
    text = _read_text(path)
    try:
        loaded = read_yaml(text)
    except YamlError as exc:
        p = exc.position
        raise ManifestInvalid([Diagnostic(file, p.line, p.column, dotted(exc.path), str(exc))]) from None
    document, positions = loaded.value, loaded.positions
    report = _Report(file, positions, document)
    for problem in loaded.problems:
        report.at_position(problem.path, problem.position, str(problem))
    if not isinstance(document, dict):
        report.at((), "the manifest must be a mapping with version, owner and imports")
        raise ManifestInvalid(report.items)
    for bad in _non_string_keys(document):
        report.at(bad, f"keys must be strings; quote {bad[-1]!r}", key=True)
    for issue_path, at_key, message in schema_issues(document):
        if issue_path not in loaded.described:
            report.at(issue_path, message, key=at_key)
    manifest = _build(document, path, report, recorded)
    if report.items:
        raise ManifestInvalid(report.items)
    return manifest


def _reserved_metadata(report: _Report, metadata: Any, path: Path_) -> None:
    if isinstance(metadata, dict):
        for key in metadata:
            if isinstance(key, str) and is_reserved(key):
                report.at(
                    (*path, key), f"metadata keys beginning with {key[:19]!r} are reserved for the tool", key=True
                )


def _build(document: dict[str, Any], path: Path, report: _Report, recorded: RecordedLookup | None) -> Manifest:
    defaults = document.get("defaults") if isinstance(document.get("defaults"), dict) else {}
    _reserved_metadata(report, defaults.get("metadata"), ("defaults", "metadata"))
    defaults_ok = not report.spoiled(("defaults",))
    safety_raw = document.get("safety") if isinstance(document.get("safety"), dict) else {}
    safety = Safety(**safety_raw) if not report.spoiled(("safety",)) else Safety()
    imports = document.get("imports") if isinstance(document.get("imports"), dict) else {}
    root = path.parent
    real_root = root.resolve()
    locations: dict[str, tuple[Path | None, str | None]] = {}
    folders: dict[str, Path | None] = {}
    wanted: dict[str, tuple[Path_, dict[str, Any], Path, Identifier]] = {}
    desired: dict[str, DesiredImport] = {}
    for key, spec in imports.items():
        where: Path_ = ("imports", key)
        _reserved_metadata(report, spec.get("metadata") if isinstance(spec, dict) else None, (*where, "metadata"))
        if report.spoiled(where) or not defaults_ok:
            continue
        if "entity" not in spec and "entity" not in defaults:
            report.at(where, "no entity: give one here or in defaults.entity", key=True)
            continue
        if "csv" not in spec:
            desired[key] = _import(report, key, where, spec, defaults, None)
            continue
        csv_spec = spec["csv"] if isinstance(spec["csv"], dict) else {"path": spec["csv"]}
        csv_where = (*where, "csv", "path") if isinstance(spec["csv"], dict) else (*where, "csv")
        raw = csv_spec["path"]
        if raw not in locations:  # many imports may share a file: resolve it once
            locations[raw] = _csv_location(root, real_root, raw, folders)
        target, problem = locations[raw]
        if problem:
            report.at(csv_where, problem)
            continue
        assert target is not None
        identifier = csv_spec.get("identifier")
        if type(identifier) is float:  # 2.0 is an integer to the schema, as to YAML's readers: column 2
            identifier = int(identifier)
        wanted[key] = (where, spec, target, identifier)
    owner = document.get("owner")
    entries = recorded(owner) if recorded and isinstance(owner, str) and not report.spoiled(("owner",)) else {}
    facts = _inspect_all(wanted, entries)
    for key, (where, spec, target, identifier) in sorted(wanted.items()):
        item = _desired(report, key, where, spec, defaults, target, identifier, facts[target])
        if item is not None:
            desired[key] = item
    api = document.get("api") if isinstance(document.get("api"), dict) else {}
    max_rps = api.get("max_rps") if not report.spoiled(("api",)) else None
    if max_rps is not None and 0 < max_rps < MIN_RATE:
        report.at(
            ("api", "max_rps"), f"below {MIN_RATE:g} requests a second; give {MIN_RATE:g} or more, or 0 for no pacing"
        )
        max_rps = None
    blocks = read_blocks(document, report)
    lock = document.get("lock") if isinstance(document.get("lock"), dict) and not report.spoiled(("lock",)) else {}
    return Manifest(
        str(path),
        document.get("owner", ""),
        safety,
        dict(sorted(desired.items())),
        max_rps,
        adopt=blocks.adopt,
        moved=blocks.moved,
        removed=blocks.removed,
        lock=LockSettings(**lock),
    )


def _inspect_all(
    wanted: dict[str, tuple[Path_, dict[str, Any], Path, Identifier]], entries: Mapping[str, RecordedCsv]
) -> dict[Path, CsvFacts]:
    """Inspect each file once, checking every identifier spec that names it."""
    by_file: dict[Path, list[Identifier]] = defaultdict(list)
    known: dict[Path, list[RecordedCsv]] = defaultdict(list)
    for key, (_, spec, target, identifier) in wanted.items():
        if identifier not in by_file[target]:
            by_file[target].append(identifier)
        entry = entries.get(key)
        if entry is not None and entry.path == _raw_path(spec):
            known[target].append(entry)
    return {
        target: inspect_csv(target, specs, known[target]) if target in known else inspect_csv(target, specs)
        for target, specs in by_file.items()
    }


def _raw_path(spec: dict[str, Any]) -> str:
    return spec["csv"]["path"] if isinstance(spec["csv"], dict) else spec["csv"]


def _desired(
    report: _Report,
    key: str,
    where: Path_,
    spec: dict[str, Any],
    defaults: dict[str, Any],
    target: Path,
    identifier: Identifier,
    facts: CsvFacts,
) -> DesiredImport | None:
    raw_path = _raw_path(spec)
    display = os.path.normpath(os.path.join(os.path.dirname(report.file), raw_path))
    csv_where = (*where, "csv")
    ok = True
    resolution = facts.identifiers.get(identifier)
    for problem in [*facts.problems, *(resolution.problems if resolution else ())]:
        ok = False
        if problem.line:
            report.in_file(display, problem.line, csv_where, problem.message)
        else:
            report.at(csv_where, f"{display}: {problem.message}")
    if not ok or resolution is None or resolution.index is None:
        return None
    csv = CsvFile(
        path=raw_path,
        display=display,
        absolute=str(target),
        identifier=resolution.index,
        identifier_name=facts.header[resolution.index],
        sha256=facts.sha256,
        size=facts.size,
        records=facts.records,
        columns=len(facts.header),
    )
    return _import(report, key, where, spec, defaults, csv)


def _import(
    report: _Report, key: str, where: Path_, spec: dict[str, Any], defaults: dict[str, Any], csv: CsvFile | None
) -> DesiredImport:
    entity = spec.get("entity") or defaults["entity"]
    return DesiredImport(
        key=key,
        title=spec.get("title", key),
        entity=Entity(entity["type"], entity.get("description")),
        metadata=dict(sorted({**defaults.get("metadata", {}), **spec.get("metadata", {})}.items())),
        protected=bool(spec.get("protected", defaults.get("protected", False))),
        csv=csv,
        line=report.positions.of_key(where).line,
    )
