"""The command line: `websets-reconciler validate | plan | apply | dump | force-unlock | doctor | emulator | demo`.

    group.py     the group, its exit codes, and main()          common.py   what the commands share
    manifest.py  validate      plan.py  plan      apply.py  apply      state.py  force-unlock
    dump.py      dump          doctor.py  doctor  local.py  emulator, demo (no account needed)

The command modules import the group's helpers, never the group: it gathers them here, by name, and
imports a command's module only when that command runs, so start-up stays quick.
"""

from __future__ import annotations

from typing import Any

from reconciler.cli.group import LazyCommand, cli, main

cli.lazy_commands.update(
    {
        "validate": LazyCommand(
            "reconciler.cli.manifest",
            "validate",
            "Check the manifest and its CSV files offline (no API key needed).",
        ),
        "plan": LazyCommand(
            "reconciler.cli.plan",
            "plan",
            "Show what apply would change: read the remote, diff it against the manifest.",
        ),
        "apply": LazyCommand(
            "reconciler.cli.apply",
            "apply",
            "Make the remote match the manifest (or carry out a saved PLAN_FILE), then update websets.lock.",
        ),
        "dump": LazyCommand(
            "reconciler.cli.dump",
            "dump",
            "Write a manifest that adopts existing imports: by default every import no owner's stamps claim.",
        ),
        "force-unlock": LazyCommand(
            "reconciler.cli.state",
            "force_unlock",
            "Remove the state lock LOCK_ID left by an apply that is no longer running.",
        ),
        "doctor": LazyCommand(
            "reconciler.cli.doctor",
            "doctor",
            "Check what the tool relies on but the API docs leave open, against the service the key reaches.",
        ),
        "emulator": LazyCommand(
            "reconciler.cli.local",
            "emulator",
            "Serve a local emulator of the Exa Websets Imports API (for offline trials and tests).",
        ),
        "demo": LazyCommand(
            "reconciler.cli.local",
            "demo",
            "Run the main job on the bundled example against the embedded emulator: validate, plan, apply, "
            "then change a title and a CSV and apply again.",
        ),
    }
)


def __getattr__(name: str) -> Any:
    # `use_color` stays importable from here without loading what the commands share at start-up.
    if name == "use_color":
        from reconciler.cli.common import use_color

        return use_color
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["cli", "main", "use_color"]
