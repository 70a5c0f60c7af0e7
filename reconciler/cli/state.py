"""`force-unlock`: the state lock, by hand."""

from __future__ import annotations

import click

from reconciler.apply.statelock import StateLock
from reconciler.cli.common import manifest_option, reports_errors
from reconciler.lockfile import lock_path_for


@click.command("force-unlock")
@manifest_option
@click.argument("lock_id")
@reports_errors
def force_unlock(manifest_path: str, lock_id: str) -> None:
    """Remove the state lock LOCK_ID left by an apply that is no longer running."""
    file_lock = StateLock(lock_path_for(manifest_path))
    held = file_lock.holder()
    if held is not None and held.get("id") == lock_id:  # this checkout's: no API key needed
        file_lock.force_unlock(lock_id)
        click.echo(f"Removed the state lock {lock_id} ({file_lock.where}).")
        return
    from reconciler.apply.locker import force_unlock as unlock
    from reconciler.apply.locker import lockers_for
    from reconciler.remote.client import ApiClient

    with ApiClient.from_env() as client:
        where = unlock(lockers_for(manifest_path, client), lock_id)
    click.echo(f"Removed the state lock {lock_id} ({where}).")
