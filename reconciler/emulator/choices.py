"""Where the published API leaves the service's behaviour open, the emulator offers each plausible answer.

The defaults are the choices the README argues for; tests run the tool against every one of them, so the
tool converges (or says plainly why not) whatever the real service turns out to do.
"""

from __future__ import annotations

from dataclasses import dataclass

# A PATCH's metadata replaces the stored object; or merges into it; or merges, a key sent with an empty
# value being removed (as Stripe's metadata works, whose description Exa's repeats word for word).
METADATA_UPDATES = ("replace", "merge", "merge-unset")
EXPIRED_UPLOADS = ("pending", "failed", "canceled", "deleted")  # a pending import past uploadValidUntil
DECLARED_COUNTS = ("correct", "keep", "reject")  # a declared count that differs from the records parsed


@dataclass(frozen=True, slots=True)
class Choices:
    """One answer to each open question of the Imports API."""

    metadata_update: str = "replace"
    expired_upload: str = "pending"
    declared_count: str = "correct"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("metadata_update", METADATA_UPDATES),
            ("expired_upload", EXPIRED_UPLOADS),
            ("declared_count", DECLARED_COUNTS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
