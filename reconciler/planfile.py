"""Saved plans (`plan --out`): the plan plus everything it was built on, for a stale-plan check."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.files import RefusedFile, load_json_strictly, read_regular, write_atomically
from reconciler.manifest.schema import first_error
from reconciler.plan.model import Action, Basis, Change, Origin, Plan, Reason, Selection
from reconciler.render.plan_json import FORMAT_VERSION, plan_document

KIND = "websets-reconciler/saved-plan"
MAX_PLAN_BYTES = 256_000_000


class PlanFileError(ReconcilerError):
    """A saved plan that cannot be read."""


def saved_plan(
    plan: Plan,
    manifest_path: str,
    targets: Selection | None,
    force: bool = False,
    replace_keys: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    return {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "manifest": manifest_path,
        "targets": sorted(targets.targets) if targets is not None and targets.targets else None,
        "excludes": sorted(targets.excludes) if targets is not None else [],
        "replace": sorted(replace_keys),
        "refresh_only": plan.refresh_only,
        "force": force,
        "basis": asdict(plan.basis),
        "plan": plan_document(plan),
    }


def write_saved_plan(
    path: str | os.PathLike[str],
    plan: Plan,
    manifest_path: str,
    targets: Selection | None,
    force: bool = False,
    replace_keys: frozenset[str] = frozenset(),
) -> None:
    document = saved_plan(plan, manifest_path, targets, force, replace_keys)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        write_atomically(Path(path), text)
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror}") from None


def read_saved_plan(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Basis]:
    """The saved plan at `path`, checked whole against saved-plan.schema.json; PlanFileError names the field."""
    try:
        text = read_regular(path, MAX_PLAN_BYTES).decode("utf-8-sig")
        data = load_json_strictly(text)
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except RefusedFile as exc:
        raise PlanFileError(f"{path}: {exc}") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a readable saved plan: it is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{path}:{exc.lineno}:{exc.colno}: not a readable saved plan: {exc.msg}") from None
    except ValueError as exc:
        raise PlanFileError(f"{path}: not a readable saved plan: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanFileError(f"{path}: not a websets-reconciler saved plan")
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"{path}: plan format {data.get('format_version')!r} is not {FORMAT_VERSION!r}")
    problem = first_error("saved-plan", data)
    if problem:
        raise PlanFileError(f"{path}: the saved plan is malformed: {problem}")
    return data, Basis(**data["basis"])


def saved_changes(saved: dict[str, Any]) -> tuple[Change, ...]:
    """The changes a saved plan holds, as they were reviewed: apply carries out these, not a new plan."""
    return tuple(
        Change(
            key=c["key"],
            action=Action(c["action"]),
            reason=Reason(c["reason"]),
            id=c["id"],
            before=c["before"],
            after=c["after"],
            changed_fields=tuple(c["changed_fields"]),
            origin=Origin(c["origin"]) if c["origin"] else None,
            protected=c["protected"],
            moved_from=c["moved_from"],
            adopting=c["adopting"],
        )
        for c in saved["plan"]["changes"]
    )


def refuse_other_options(
    path: str,
    saved: dict[str, Any],
    manifest: str | None,
    targets: tuple[str, ...],
    force: bool,
    excludes: tuple[str, ...] = (),
    replace_keys: tuple[str, ...] = (),
    refresh_only: bool = False,
) -> None:
    """A saved plan is applied as it was made: options that would change it are errors, not ignored.
    `manifest` is the -f given on the command line (None when it was not given)."""
    recorded = saved["manifest"]
    if manifest is not None and Path(manifest).resolve() != Path(recorded).resolve():
        raise ConfigError(
            f"-f {manifest}: the saved plan {path} was made from {recorded}; a saved plan applies to its own manifest"
        )
    for option, given in (("--target", targets), ("--exclude", excludes), ("--replace", replace_keys)):
        if given:
            raise ConfigError(
                f"{option}: the saved plan {path} applies to what it was made for; plan again with {option} and --out"
            )
    if refresh_only and not saved.get("refresh_only"):
        raise ConfigError(f"--refresh-only: the saved plan {path} was not made with --refresh-only; plan again with it")
    if force and not saved.get("force"):
        raise ConfigError(
            f"--force: the saved plan {path} was made without --force; make it with `plan --force --out` so the "
            "override of the safety rules is part of what is reviewed"
        )


def saved_options(saved: dict[str, Any]) -> tuple[Selection | None, frozenset[str], bool, bool]:
    """What a saved plan was made with: its selection, --replace keys, --force and --refresh-only."""
    targets, excludes = saved.get("targets"), saved.get("excludes") or []
    selection = Selection(tuple(targets or ()), tuple(excludes)) if targets is not None or excludes else None
    return selection, frozenset(saved.get("replace") or ()), bool(saved.get("force")), bool(saved.get("refresh_only"))
