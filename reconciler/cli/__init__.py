"""The command line: `websets-reconciler validate | plan | apply | force-unlock | emulator | demo`.

    group.py     the group, its exit codes, and main()          common.py   what the commands share
    manifest.py  validate      plan.py  plan      apply.py  apply      state.py  force-unlock
    local.py     emulator, demo (no account needed)

The command modules import the group's helpers, never the group: it gathers them here.
"""

from __future__ import annotations

from reconciler.cli import apply, local, manifest, plan, state
from reconciler.cli.common import use_color
from reconciler.cli.group import cli, main

for _command in (
    manifest.validate,
    plan.plan,
    apply.apply,
    state.force_unlock,
    local.emulator,
    local.demo,
):
    cli.add_command(_command)

__all__ = ["cli", "main", "use_color"]
