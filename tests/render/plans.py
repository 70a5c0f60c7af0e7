"""Hand-built plans for the renderer tests: one change of each kind, with the sides the planner gives it."""

from __future__ import annotations

from typing import Any

from reconciler.plan.model import Action, Change, Origin, Plan, Reason, Reference

SHA_OLD, SHA_NEW = "1" * 64, "2" * 64


def remote_side(
    id_: str, title: str, *, metadata: dict[str, str] | None = None, records: int = 2, sha: str | None = SHA_OLD
) -> dict[str, Any]:
    return {
        "id": id_,
        "status": "completed",
        "title": title,
        "entity": {"type": "company"},
        "metadata": metadata or {},
        "csv": {"sha256": sha, "records": records, "identifier": 0},
    }


def desired_side(title: str, *, metadata: dict[str, str] | None = None, sha: str = SHA_OLD) -> dict[str, Any]:
    return {
        "title": title,
        "entity": {"type": "company"},
        "metadata": metadata or {},
        "protected": False,
        "csv": {
            "path": "data/x.csv",
            "sha256": sha,
            "size": 49,
            "records": 2,
            "columns": 2,
            "identifier": 0,
            "identifier_name": "url",
        },
    }


def adopt(key: str = "customers", id_: str = "imp_01jadopt") -> Change:
    return Change(
        key,
        Action.ADOPT,
        Reason.ADOPT_REQUESTED,
        id_,
        remote_side(id_, "Customers (dashboard)"),
        desired_side("Customers"),
        ("title", "metadata.stamps"),
        Origin.MANIFEST,
    )


def move(old: str = "prospects", new: str = "prospects-emea", id_: str = "imp_p1") -> Change:
    return Change(
        new,
        Action.MOVE,
        Reason.KEY_MOVED,
        id_,
        remote_side(id_, "Prospects"),
        desired_side("Prospects EMEA"),
        ("key", "title"),
        Origin.MANIFEST,
        moved_from=old,
    )


def forget(key: str = "old-list", id_: str = "imp_old", protected: bool = False) -> Change:
    return Change(
        key,
        Action.FORGET,
        Reason.KEY_FORGOTTEN,
        id_,
        remote_side(id_, "Old list"),
        None,
        ("metadata.stamps",),
        Origin.MANIFEST,
        protected,
    )


def refresh_edit(key: str = "people", id_: str = "imp_pe") -> Change:
    lock = remote_side(id_, "People", metadata={"team": "growth"})
    seen = remote_side(id_, "People (renamed in the dashboard)", metadata={"team": "sales"})
    return Change(key, Action.REFRESH, Reason.REMOTE_EDITED, id_, lock, seen, ("metadata.team", "title"), Origin.REMOTE)


def refresh_gone(key: str = "leads", id_: str = "imp_le") -> Change:
    return Change(key, Action.REFRESH, Reason.REMOTE_DELETED, id_, remote_side(id_, "Leads"), None, (), Origin.REMOTE)


def replace(
    key: str = "accounts",
    id_: str = "imp_acc",
    *,
    reason: Reason = Reason.CSV_CHANGED,
    moved_from: str | None = None,
    adopting: bool = False,
) -> Change:
    fields = ("csv.sha256", *(("key",) if moved_from else ()))
    return Change(
        key,
        Action.REPLACE,
        reason,
        id_,
        remote_side(id_, "Accounts"),
        desired_side("Accounts", sha=SHA_NEW),
        fields,
        Origin.MANIFEST,
        moved_from=moved_from,
        adopting=adopting,
    )


def delete(key: str = "stale", id_: str = "imp_st") -> Change:
    return Change(key, Action.DELETE, Reason.KEY_REMOVED, id_, remote_side(id_, "Stale"), None, (), Origin.MANIFEST)


def update(key: str = "partners", id_: str = "imp_pa") -> Change:
    return Change(
        key,
        Action.UPDATE,
        Reason.ATTRIBUTES_CHANGED,
        id_,
        remote_side(id_, "Partners"),
        desired_side("Our partners"),
        ("title",),
        Origin.MANIFEST,
    )


def create(key: str = "fresh") -> Change:
    return Change(key, Action.CREATE, Reason.NEW_KEY, None, None, desired_side("Fresh"), (), Origin.UNKNOWN)


def plan_of(*changes: Change, **fields: Any) -> Plan:
    return Plan("growth", changes, managed=len(changes), unmanaged=0, **fields)


def refs(import_id: str, count: int, *, how: str = "source", title: str = "Webset") -> tuple[Reference, ...]:
    return tuple(Reference(import_id, f"ws_{import_id}_{i:05d}", f"{title} {i}", how) for i in range(count))
