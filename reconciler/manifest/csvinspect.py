"""CSV inspection: one streaming pass per file, in constant memory.

The pass hashes the bytes as they are read (sha256, size), decodes them as UTF-8 (a BOM is accepted)
and runs csv.reader over the text, so the hash, the record count and the checks all come from one
read. Record semantics match the service's: a quoted newline does not start a record, blank lines
are not records, the first record is the header.

A file that is byte for byte one the lockfile records (same size and sha256) passed every check when it
was recorded, so it is hashed but not parsed: only its header is read, to resolve the identifier specs,
and the records and columns come from the record. The content, not a timestamp, decides: the lockfile
is committed and holds no timestamps.

Rules (documented in the README): at most 50,000,000 bytes; at least one record; every record has a
value in the identifier column; every record has as many fields as the header (a ragged row is
almost always an unquoted comma, so it is an error, reported with its line).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.files import RefusedFile, open_regular

MAX_BYTES = 50_000_000
MAX_REPORTED = 5  # per kind of problem and file; the rest are counted
_READ_CHUNK = 1 << 20
_URL_HEADER = re.compile(
    r"^(url|uri|website|web_site|site|domain|link|homepage|home_page|linkedin|linkedin_url|profile|"
    r"profile_url|[a-z0-9_]*_url|[a-z0-9_]*_link|doi|arxiv)$"
)

Identifier = str | int | None  # a header name, a 0-based index, or None to infer


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """A problem in a CSV file; `line` is the file's line (0 when it concerns the whole file)."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """What one identifier spec resolved to in a file: a column index, or the problems found."""

    index: int | None
    problems: tuple[CsvProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class CsvFacts:
    """What the tool knows of a CSV after one pass."""

    sha256: str
    size: int
    records: int
    header: tuple[str, ...]
    problems: tuple[CsvProblem, ...]  # problems of the file itself, whatever the identifier
    identifiers: dict[Identifier, Resolution] = field(default_factory=dict)


class Recorded(Protocol):
    """What an earlier run recorded of a file it inspected (a lockfile entry's CSV facts)."""

    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def records(self) -> int: ...
    @property
    def columns(self) -> int: ...
    @property
    def identifier(self) -> int: ...


class _HashingReader(io.RawIOBase):
    """A raw stream that hashes and counts the bytes as they pass."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self._raw.readinto(buffer)
        if n:
            view = memoryview(buffer)[:n]
            self.sha256.update(view)
            self.size += n
        return n or 0

    def drain(self) -> None:
        """Hash whatever is left unread (after a decoding or parsing error)."""
        while chunk := self._raw.read(_READ_CHUNK):
            self.sha256.update(chunk)
            self.size += len(chunk)


def looks_like_url_column(name: str) -> bool:
    """Whether a header names a URL-like column (url, website, domain, link, homepage, linkedin, ...)."""
    return bool(_URL_HEADER.match(re.sub(r"[\s\-]+", "_", name.strip().lower())))


def _names(header: Sequence[str]) -> str:
    """Header names for a one-line message: a name holding a newline or another control is escaped."""
    return ", ".join(name if name.isprintable() else repr(name)[1:-1] for name in header)


def resolve_identifier(header: Sequence[str], spec: Identifier) -> tuple[int | None, str | None]:
    """The column index for an identifier spec, or an error message."""
    if isinstance(spec, int):
        if spec >= len(header):
            return None, f"identifier column {spec} does not exist: the header has {len(header)} columns"
        return spec, None
    if isinstance(spec, str):
        matches = [i for i, name in enumerate(header) if name == spec]
        if len(matches) == 1:
            return matches[0], None
        if matches:
            return None, f"identifier column {spec!r} appears {len(matches)} times in the header"
        folded = [i for i, name in enumerate(header) if name.strip().lower() == spec.strip().lower()]
        if len(folded) == 1:
            return folded[0], None
        return None, f"identifier column {spec!r} is not in the header ({_names(header)})"
    candidates = [i for i, name in enumerate(header) if looks_like_url_column(name)]
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, (
            f"no column of the header ({_names(header)}) names a URL; set csv.identifier to the column "
            "that holds each record's URL"
        )
    names = _names([header[i] for i in candidates])
    return None, f"several columns could be the identifier ({names}); set csv.identifier to one of them"


class _Tally:
    """Problems of one kind: the first few are kept, the rest counted."""

    def __init__(self) -> None:
        self.kept: list[CsvProblem] = []
        self.more = 0

    def add(self, line: int, message: str) -> None:
        if len(self.kept) < MAX_REPORTED:
            self.kept.append(CsvProblem(line, message))
        else:
            self.more += 1

    def problems(self, what: str) -> list[CsvProblem]:
        if self.more:
            return [*self.kept, CsvProblem(self.kept[-1].line, f"... and {self.more} more {what}")]
        return list(self.kept)


def _other_delimiter(header: Sequence[str]) -> str | None:
    """A message when a one-column header looks like several columns split by ';' or a tab."""
    if len(header) != 1:
        return None
    kind = "tab" if "\t" in header[0] else "semicolon" if ";" in header[0] else None
    if kind is None:
        return None
    shown = header[0] if len(header[0]) <= 60 else header[0][:60] + "..."
    return f"the file looks {kind}-delimited (its header is one column, {shown!r}); CSV files must be comma-separated"


def _first_invalid_utf8(f: io.BufferedReader) -> tuple[int, int]:
    """The line and byte offset of the first byte that is not UTF-8 (the decoder runs ahead of csv)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    while chunk := f.read(_READ_CHUNK):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = max(exc.start - (len(exc.object) - len(chunk)), 0)
            return line + chunk[:bad].count(b"\n"), offset + bad
        line += chunk.count(b"\n")
        offset += len(chunk)
    return line, offset


def _first_record(head: bytes, whole: bool) -> list[str] | None:
    """The header as the full pass reads it, from the file's first bytes; None unless it surely ends in them."""
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=whole)
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next((row for row in reader if row), None)
        if header is None or whole:
            return header
        next(reader)  # a row after it: the header's line ended inside `head`
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return header


def _recheck(
    raw_file: io.BufferedReader, size: int, identifiers: Sequence[Identifier], recorded: Sequence[Recorded]
) -> CsvFacts | None:
    """The facts of a file the lockfile records byte for byte, hashing it and parsing only its header; None
    when no record matches it (the caller then makes the full pass)."""
    same = [r for r in recorded if r.size == size]
    if not same:
        return None
    digest = hashlib.sha256()
    head = raw_file.read(_READ_CHUNK)
    digest.update(head)
    read = len(head)
    while chunk := raw_file.read(_READ_CHUNK):
        digest.update(chunk)
        read += len(chunk)
    sha256 = digest.hexdigest()
    same = [r for r in same if r.sha256 == sha256 and r.size == read]
    header = _first_record(head, read == len(head)) if same else None
    if header is None or _other_delimiter(header):
        return None
    outcome: dict[Identifier, Resolution] = {}
    for spec in identifiers:
        index, _ = resolve_identifier(header, spec)
        # Only a column that was checked for values when the file was recorded can be taken on trust.
        if index is None or not any(r.identifier == index and r.columns == len(header) for r in same):
            return None
        outcome[spec] = Resolution(index)
    return CsvFacts(sha256, read, same[0].records, tuple(header), (), outcome)


def inspect_csv(
    path: str | os.PathLike[str], identifiers: Sequence[Identifier] = (None,), recorded: Sequence[Recorded] = ()
) -> CsvFacts:
    """Read the file once and return its facts, checking each identifier spec against it; a file that
    `recorded` holds byte for byte is hashed, not parsed."""
    try:
        fd = open_regular(path)
    except RefusedFile as exc:
        return CsvFacts("", 0, 0, (), (CsvProblem(0, str(exc)),))
    except OSError as exc:
        return CsvFacts("", 0, 0, (), (CsvProblem(0, f"cannot read the file: {exc.strerror}"),))
    with open(fd, "rb") as raw_file:
        size = os.fstat(raw_file.fileno()).st_size
        if size > MAX_BYTES:
            return CsvFacts("", size, 0, (), (CsvProblem(0, f"the file is {size:,} bytes; the limit is 50,000,000"),))
        if recorded:
            known = _recheck(raw_file, size, identifiers, recorded)
            if known is not None:
                return known
            raw_file.seek(0)
        hashing = _HashingReader(raw_file)  # type: ignore[arg-type]
        text = io.TextIOWrapper(io.BufferedReader(hashing, _READ_CHUNK), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        problems: list[CsvProblem] = []
        header: list[str] | None = None
        header_line = 1
        records = 0
        ragged = _Tally()
        resolved: dict[Identifier, tuple[int | None, str | None]] = {}
        empties: dict[int, _Tally] = {}
        not_utf8 = False
        try:
            for row in reader:
                if not row:
                    continue
                if header is None:
                    header, header_line = row, reader.line_num
                    delimiter = _other_delimiter(header)
                    if delimiter:
                        problems.append(CsvProblem(header_line, delimiter))
                        identifiers = ()  # the columns are unknown, so no identifier can be checked
                    resolved = {spec: resolve_identifier(header, spec) for spec in identifiers}
                    empties = {index: _Tally() for index, _ in resolved.values() if index is not None}
                    width = len(header)
                    continue
                records += 1
                if len(row) != width:
                    ragged.add(reader.line_num, f"record has {len(row)} fields; the header has {width}")
                for index, tally in empties.items():
                    if index >= len(row) or not row[index].strip():
                        tally.add(reader.line_num, f"record has no value in identifier column {header[index]!r}")
        except UnicodeDecodeError:
            not_utf8 = True
        except csv.Error as exc:
            problems.append(CsvProblem(reader.line_num, f"the file is not valid CSV: {exc}"))
        hashing.drain()
        if not_utf8:  # rare: a second look at the same open file, to say where
            raw_file.seek(0)
            line, offset = _first_invalid_utf8(raw_file)
            problems.append(CsvProblem(line, f"the file is not valid UTF-8 (byte {offset:,})"))
    if not problems:
        if header is None:
            problems.append(CsvProblem(0, "the file is empty: it needs a header and at least one record"))
        elif records == 0:
            problems.append(CsvProblem(header_line, "the file has a header but no records"))
    problems += ragged.problems("ragged records")
    outcome: dict[Identifier, Resolution] = {}
    for spec, (index, error) in resolved.items():
        if error is not None:
            outcome[spec] = Resolution(None, (CsvProblem(header_line, error),))
        else:
            assert index is not None
            outcome[spec] = Resolution(index, tuple(empties[index].problems("records without an identifier")))
    return CsvFacts(
        sha256=hashing.sha256.hexdigest(),
        size=hashing.size,
        records=records,
        header=tuple(header or ()),
        problems=tuple(problems),
        identifiers=outcome,
    )
