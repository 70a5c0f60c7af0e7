"""The state lock on the service: one apply at a time per owner, on every machine that has the API key.

A claim is an import the lock creates and never uploads to, stamped with the owner, a lock id and its
holder. To take the lock, create a claim, then list the newest imports: among the owner's live claims the
oldest wins (a claim made in the same instant as ours is a tie, no win for either). A loser deletes its
claim and is refused, naming the holder (or, with a timeout, tries again a little later). The winner
releases by deleting its claims.

A claim is live for `lease` seconds after it was created, by the service's clock only: the newest claim's
createdAt stands for "now", so no clock of ours is ever compared with the service's. The holder renews
every third of the lease by making a fresh claim and deleting its older ones, so a crashed holder blocks
the others for at most a lease; a renewal that would let a claimant slip in first (one older than the new
claim, made in the last moments, still deciding) keeps the old claim and tries again soon. Claims are
created and deleted, never PATCHed: nothing depends on how the service keeps updatedAt or merges metadata.

What it relies on (and `doctor` checks): a create is in the very next listing (read-after-write), the
listing is newest first, and a never-uploaded import stays listed for a lease. A claimant trusts only a
listing it read within `GRACE` seconds of sending its create, so a claimant paused between the two never
acts on an old view. Every write of the apply is checked (`check`) against the last renewal: once the
lease may have lapsed, writes stop with LockLost.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reconciler.apply.statelock import SAFE_ID, who
from reconciler.errors import ApiError, LockHeld, LockLost, ReconcilerError
from reconciler.model import DEFAULT_LEASE, STAMP_LOCK, STAMP_LOCK_HOLDER, STAMP_OWNER
from reconciler.remote.answers import parse_time
from reconciler.remote.client import ApiClient, OutcomeUnknown
from reconciler.remote.state import PAGE_SIZE, Unfollowable, pages

GRACE = 30.0  # seconds: a claimant acts only on a listing read this soon after its create was sent
RETRY_EVERY = 5.0  # seconds between attempts while waiting for the lock, or for a renewal to go through
TIE_RETRIES = 5  # attempts more when the only claim ahead was made in the same instant as ours
SCAN_BEYOND = 60.0  # the listing is read this far past the oldest live claim (createdAt ties and jitter)


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim import: its id, the lock it is for, when the service made it, and who made it."""

    id: str
    lock_id: str
    created: float
    holder: dict[str, Any]

    @property
    def order(self) -> tuple[float, str]:
        return (self.created, self.id)

    @classmethod
    def of(cls, raw: dict[str, Any], owner: str) -> Claim | None:
        """The claim an import of the listing is, if it is one of `owner`'s."""
        metadata = raw.get("metadata") or {}
        lock_id = metadata.get(STAMP_LOCK)
        if not lock_id or metadata.get(STAMP_OWNER) != owner:
            return None
        try:
            holder = json.loads(metadata.get(STAMP_LOCK_HOLDER) or "{}")
        except ValueError:
            holder = {}
        created = parse_time(raw.get("createdAt")) or 0.0
        return cls(raw["id"], lock_id, created, holder if isinstance(holder, dict) else {})


class ServiceLock:
    """The state lock of one owner, held as claims on the service."""

    name = "service"

    def __init__(
        self,
        client: ApiClient,
        owner: str,
        lease: float = DEFAULT_LEASE,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        grace: float = GRACE,
    ) -> None:
        self.client, self.owner, self.lease, self.grace = client, owner, lease, grace
        self._monotonic = monotonic
        self.lock_id: str | None = None
        self._held: list[Claim] = []  # our claims, oldest first
        self._renewed = 0.0  # monotonic time the create of our newest claim was sent
        self._lost: str | None = None
        self._holder = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def where(self) -> str:
        return f"the service (owner {self.owner!r})"

    # -- reading the claims ---------------------------------------------------------------------

    def _claims(self, now: float | None, everything: bool = False) -> tuple[list[Claim], float]:
        """The owner's claims in the newest part of the listing, and the service's "now": `now` if given,
        else the createdAt of the newest import listed. Reads on to a lease (and a little) before now, or
        to the end when `everything`."""
        found: list[Claim] = []
        try:
            for page in pages(lambda cursor: self.client.list_page(cursor, PAGE_SIZE)):
                for raw in page.get("data") or []:
                    created = parse_time(raw.get("createdAt")) or 0.0
                    if now is None:
                        now = created  # newest first: the first import is the newest
                    if not everything and created < now - self.lease - SCAN_BEYOND:
                        return found, now  # every import further on is older still
                    if (claim := Claim.of(raw, self.owner)) is not None:
                        found.append(claim)
        except Unfollowable as exc:
            raise ReconcilerError(
                f"the state lock cannot be read: the import listing is inconsistent ({exc})"
            ) from None
        return found, now if now is not None else 0.0

    def _live(self, claims: list[Claim], now: float) -> list[Claim]:
        """The claims still live at `now`, in the order they rank: oldest first, then by id."""
        return sorted((c for c in claims if now - c.created < self.lease), key=lambda c: c.order)

    # -- claiming -------------------------------------------------------------------------------

    def _holder_info(self, operation: str) -> str:
        info = {
            "who": who()[:100],
            "host": socket.gethostname()[:100],
            "pid": os.getpid(),
            "operation": operation[:40],
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return json.dumps(info, sort_keys=True)

    def _claim(self) -> tuple[Claim | None, list[Claim], float]:
        """Create a claim, then list: our new claim (None when a create whose answer was lost made none),
        the live claims in rank order, and the seconds from sending the create to the end of the listing."""
        assert self.lock_id is not None
        body = {
            "format": "csv",
            "size": 1,
            "count": 0,
            "title": f"websets-reconciler state lock of {self.owner}: never uploaded, deleted on release",
            "entity": {"type": "company"},
            "metadata": {STAMP_OWNER: self.owner, STAMP_LOCK: self.lock_id, STAMP_LOCK_HOLDER: self._holder},
        }
        sent = self._monotonic()
        made: dict[str, Any] | None
        try:
            made = self.client.create(body)
        except OutcomeUnknown:
            made = None  # made or not: the listing tells
        try:
            claims, now = self._claims(parse_time(made.get("createdAt")) if made else None)
        except BaseException:
            if made is not None:  # a claim nobody can rank must not block the next run for a lease
                self._delete(made["id"])
            raise
        took = self._monotonic() - sent
        held = {c.id for c in self._held}
        fresh = [c for c in claims if c.lock_id == self.lock_id and c.id not in held]
        if made is not None:
            new = next((c for c in fresh if c.id == made["id"]), None)
            if new is None:
                self._delete(made["id"])
                raise ReconcilerError(
                    f"the service did not list the state lock claim {made['id']} it had just made, so the lock "
                    "cannot work here; set `lock: {backend: file}` in the manifest to lock this checkout only"
                )
        else:
            new = max(fresh, key=lambda c: c.order) if fresh else None
        extras = {c.id for c in fresh if c is not new}
        for extra in extras:  # creates whose answers were lost, made after all: one claim is enough
            self._delete(extra)
        return new, [c for c in self._live(claims, now) if c.id not in extras], took

    def _delete(self, claim_id: str) -> None:
        with contextlib.suppress(ApiError):  # it expires by itself within a lease; an expired claim counts for none
            self.client.delete(claim_id)

    def _describe(self, holder: Claim) -> str:
        info = holder.holder
        lock_id = holder.lock_id if SAFE_ID.fullmatch(holder.lock_id) else holder.id
        return (
            f"the state lock of owner {self.owner!r} on the service is held by {info.get('who', '?')} "
            f"(pid {info.get('pid', '?')} on {info.get('host', '?')}, {info.get('operation', '?')} since "
            f"{info.get('since', '?')}, lock id {lock_id}); wait with --lock-timeout, or, if that run is gone, its "
            f"claim expires within {self.lease:g} s of its last renewal, or run `websets-reconciler force-unlock "
            f"{lock_id}`"
        )

    def acquire(self, operation: str, *, timeout: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> str:
        """Take the lock, trying for up to `timeout` seconds; return its id or raise LockHeld."""
        self.lock_id = str(uuid.uuid4())
        self._holder = self._holder_info(operation)
        deadline = self._monotonic() + timeout
        ties, tries = TIE_RETRIES, -1
        while True:
            new, live, took = self._claim()
            others = [c for c in live if c.lock_id != self.lock_id]
            # A claim made in the same instant as ours (the service's clock is coarse) may have been made
            # after the listing of a claimant that saw only itself: a tie is no win, whatever the ids.
            ahead = [c for c in others if new is None or c.created <= new.created]
            if new is not None and not ahead and took < self.grace:
                with self._mutex:
                    self._held, self._renewed = [new], self._monotonic() - took
                self._start_renewing()
                return self.lock_id
            if new is not None:
                self._delete(new.id)
            holding = [c for c in ahead if new is None or c.created < new.created]
            if ahead and not holding and ties > 0:  # only a tie: nobody holds it; try again in a moment
                ties -= 1
                sleep(random.uniform(0.05, 0.3))
                continue
            if self._monotonic() >= deadline:
                if ahead:
                    first = ahead[0]
                    raise LockHeld(self._describe(first), {"id": first.lock_id, **first.holder})
                why = (
                    f"the service answered too slowly to trust its listing ({took:.0f} s from claim to listing)"
                    if new is not None
                    else "the answer to its claim was lost"
                )
                raise ReconcilerError(
                    f"the state lock of owner {self.owner!r} could not be taken: {why}; try again, or wait with "
                    "--lock-timeout"
                )
            # Soon at first (a holder often finishes in seconds), then every few seconds: each try costs
            # three requests. Jittered, so that runs waiting together do not keep trying in step.
            tries += 1
            pause = min(RETRY_EVERY, 0.5 * 2 ** min(tries, 4)) * random.uniform(0.8, 1.2)
            sleep(min(pause, max(deadline - self._monotonic(), 0.01)))

    # -- holding --------------------------------------------------------------------------------

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="state-lock", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        from reconciler.apply.interrupt import leave_signals_to_the_main_thread

        leave_signals_to_the_main_thread()
        wait = self.lease / 3
        while not self._stop.wait(wait):
            try:
                wait = self.lease / 3 if self.renew() else min(RETRY_EVERY, self.lease / 30)
            except (ReconcilerError, OSError):
                wait = min(RETRY_EVERY, self.lease / 30)  # check() stops the writes if this goes on too long

    def renew(self) -> bool:
        """Replace our claim by a fresh one; False when that has to wait (a claimant is deciding)."""
        with self._mutex:
            held = list(self._held)
        if not held or self._lost:
            return False
        assert self.lock_id is not None
        new, live, took = self._claim()
        if new is None:
            return False
        if not any(c.id in {h.id for h in held} for c in live):
            self._delete(new.id)
            with self._mutex:
                self._lost = "its claim is gone (removed by force-unlock, or expired)"
            return False
        # A claimant older than the new claim, that made its claim moments ago, may still be deciding:
        # it loses to our old claim, which must stay until it has seen that.
        deciding = [
            c
            for c in live
            if c.lock_id != self.lock_id and c.created <= new.created and new.created - c.created < self.grace
        ]
        if deciding or took >= self.grace:
            self._delete(new.id)
            return False
        for old in held:
            self._delete(old.id)
        with self._mutex:
            self._held, self._renewed = [new], self._monotonic() - took
        return True

    def sweep(self, listed: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> int:
        """Delete the owner's claims that expired (left by runs that crashed) among imports `listed` while
        the lock is ours; how many. Only with the lock held: its newest claim tells the service's now."""
        with self._mutex:
            newest = self._held[-1] if self._held else None
        if newest is None:
            return 0
        swept = 0
        for raw in listed:
            claim = Claim.of(raw, self.owner)
            if claim is not None and claim.lock_id != self.lock_id and newest.created - claim.created > self.lease:
                self._delete(claim.id)
                swept += 1
        return swept

    def check(self) -> None:
        """Raise LockLost when the lock may no longer be ours: a write must not go out then."""
        if threading.current_thread() is self._renewer:
            return  # the lock's own requests
        with self._mutex:
            lost, renewed = self._lost, self._renewed
        if lost is None and self._monotonic() - renewed > self.lease - min(self.lease / 6, 60.0):
            lost = f"it was last renewed {self._monotonic() - renewed:.0f} s ago, near its {self.lease:g} s lease"
        if lost is not None:
            raise LockLost(f"the state lock on the service was lost ({lost}); stopping before this write")

    def release(self, lock_id: str) -> None:
        """Stop renewing and delete our claims."""
        if lock_id != self.lock_id:
            return
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        with self._mutex:
            held, self._held = self._held, []
        for claim in held:
            self._delete(claim.id)

    def force_unlock(self, lock_id: str) -> None:
        """Delete every claim of the lock `lock_id` (or the claim with that import id), whoever made it."""
        claims, _ = self._claims(None, everything=True)
        doomed = [c for c in claims if lock_id in (c.lock_id, c.id)]
        if not doomed:
            raise ReconcilerError(f"no state lock claim with id {lock_id} for owner {self.owner!r} is on the service")
        for claim in doomed:
            self.client.delete(claim.id)
