"""The one error root, and where each error came from.

    ReconcilerError                  exit 1 unless the class says otherwise
    ├── ManifestInvalid              the manifest or a CSV is wrong: a list of Diagnostics
    ├── ConfigError                  the environment is wrong (no API key, a refused base URL)
    ├── ApiError                     the API answered an error, or an unusable answer: status, message, request id
    │   ├── TransportError           no answer at all (timeouts, closed connections), after retries
    │   ├── CsvChanged               a CSV's bytes differ from what was planned: the upload was stopped
    │   └── LockLost                 the state lock may have passed to another run: a write is not sent
    ├── RemoteStateError             the remote listing cannot be trusted (inconsistent, duplicates)
    ├── LockfileError                websets.lock is corrupt, of another owner, or unwritable
    ├── PlanUnsafe                   the plan breaks a safety rule and --force was not given
    ├── StalePlan                    a saved plan no longer matches what it was built on
    ├── LockHeld                     another apply holds the state lock: carries its LockInfo
    └── ApplyFailed                  some actions failed: carries each ActionError

No message ever contains the API key or an upload URL: messages built from what a server said go
through `redact` here, where they are made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.redact import redact


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One problem at a place: `file:line:column: path: message` (line 0: the whole file, `file: message`)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}" if self.column else f":{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ReconcilerError(Exception):
    """Root of every error the tool reports; `exit_code` is what the CLI exits with."""

    exit_code = 1


class ManifestInvalid(ReconcilerError):
    """The manifest, or a CSV it names, is invalid."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ConfigError(ReconcilerError):
    """The environment or the options are wrong."""


class ApiError(ReconcilerError):
    """The API or the upload host answered with an error, or with an answer the tool cannot use."""

    def __init__(self, operation: str, status: int, message: str, request_id: str | None) -> None:
        self.operation = operation
        self.status = status
        self.request_id = request_id
        self.detail = redact(message)
        rid = f" (request id {request_id})" if request_id else ""
        super().__init__(redact(f"{operation}: HTTP {status}: {message}{rid}"))


class TransportError(ApiError):
    """No usable answer arrived (connection refused or closed, timeout), even after retries."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(operation, 0, reason, None)
        Exception.__init__(self, redact(f"{operation}: no response: {reason}"))


class CsvChanged(ApiError):
    """A CSV's bytes are not those the plan hashed; the upload was stopped before its last byte."""

    def __init__(self, display: str, change: str) -> None:
        message = f"{display}: changed since it was planned ({change}); plan again"
        super().__init__("upload", 0, message, None)
        Exception.__init__(self, redact(message))


class RemoteStateError(ReconcilerError):
    """The remote listing cannot be trusted."""


class LockfileError(ReconcilerError):
    """websets.lock is corrupt, belongs to another owner, or cannot be written."""


class PlanUnsafe(ReconcilerError):
    """The plan breaks a safety rule and --force was not given."""


class StalePlan(ReconcilerError):
    """A saved plan no longer matches what it was built on."""


class LockHeld(ReconcilerError):
    """Another run holds the state lock; `info` says who."""

    def __init__(self, message: str, info: dict[str, object]) -> None:
        super().__init__(message)
        self.info = info


class LockLost(ApiError):
    """The state lock may have passed to another run: the write about to go out is not sent."""

    def __init__(self, message: str) -> None:
        super().__init__("state lock", 0, message, None)
        Exception.__init__(self, message)


class ApplyFailed(ReconcilerError):
    """Some actions failed; the progress made was saved. `failures` holds each ActionError."""

    def __init__(self, failures: list[ActionError]) -> None:
        self.failures = failures
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(f"{len(failures)} action(s) failed; the progress made was saved:\n{lines}")


@dataclass(frozen=True, slots=True)
class ActionError:
    """One failed action: what it was doing, for which key, and why."""

    op: str
    key: str
    message: str

    def __post_init__(self) -> None:
        # Failure messages (the service's failedMessage, an error body) reach every output; clean them once.
        object.__setattr__(self, "message", redact(self.message))

    def __str__(self) -> str:
        return f"{self.key}: {self.op}: {self.message}"
