"""What the emulated service does with an uploaded CSV: parse it and decide completed or failed."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

# Headers the service would pick when `csv.identifier` is not given ("we will try to infer it").
_URL_HEADERS = {"url", "website", "domain", "link", "homepage", "linkedin", "linkedin_url", "profile_url"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end state of processing: `reason` and `message` are set only when it failed."""

    status: str
    count: int
    reason: str | None = None
    message: str | None = None


def _failed(reason: str, message: str, count: int = 0) -> Outcome:
    return Outcome("failed", count, reason, message)


def process_csv(content: bytes, identifier: int | None) -> Outcome:
    """Parse `content` as the service would, with csv-module record semantics."""
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _failed("invalid_file_content", f"the file is not valid UTF-8 (byte {exc.start})")
    try:
        # Blank lines are not records: csv.reader yields [] for them.
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        return _failed("invalid_format", f"the file is not valid CSV: {exc}")
    if not rows:
        return _failed("invalid_file_content", "the file is empty")
    header, records = rows[0], rows[1:]
    if not records:
        return _failed("invalid_file_content", "the file has a header but no records")
    if identifier is None:
        matches = [i for i, name in enumerate(header) if name.strip().lower() in _URL_HEADERS]
        if not matches:
            return _failed("missing_identifier", "no identifier column given and none could be inferred")
        identifier = matches[0]
    if identifier >= len(header):
        return _failed(
            "missing_identifier",
            f"identifier column {identifier} is not in the header ({len(header)} columns)",
            len(records),
        )
    for number, record in enumerate(records, start=1):
        if identifier >= len(record) or not record[identifier].strip():
            return _failed(
                "missing_identifier",
                f"record {number} has no value in identifier column {identifier}",
                len(records),
            )
    return Outcome("completed", len(records))


def settle_count(outcome: Outcome, declared: int, policy: str) -> Outcome:
    """Apply the declared-count policy to a parsed file: `correct` reports the records parsed, `keep`
    reports the declared count, `reject` fails an import whose declared count is not the parsed one."""
    if outcome.status != "completed" or declared == outcome.count or policy == "correct":
        return outcome
    if policy == "keep":
        return Outcome("completed", declared)
    message = f"the import declared count {declared} but the file has {outcome.count} records"
    return _failed("invalid_file_content", message, outcome.count)
