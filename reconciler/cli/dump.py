"""`dump`: write a manifest that adopts existing imports, read from the remote."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from reconciler.cli.common import max_rps_option, reports_errors
from reconciler.errors import ConfigError

_KEY_RULE = "use 1 to 64 of a-z, 0-9, '_', '.', '-', starting with a-z or 0-9"


def _owner_of(path: str) -> str:
    """The `owner` of the manifest at `path`, read with the manifest's own YAML reader; one-line errors."""
    from reconciler.files import read_regular
    from reconciler.manifest.load import MAX_MANIFEST_BYTES
    from reconciler.manifest.yamlload import YamlError, read_yaml
    from reconciler.model import is_key

    try:
        text = read_regular(path, MAX_MANIFEST_BYTES).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read its owner: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read its owner: the file is not UTF-8 text") from None
    try:
        loaded = read_yaml(text)
    except YamlError as exc:
        where = exc.position
        raise ConfigError(f"{path}:{where.line}:{where.column}: cannot read its owner: {exc}") from None
    value = loaded.value
    owner = value.get("owner") if isinstance(value, dict) else None
    if not isinstance(owner, str) or not is_key(owner):
        line = loaded.positions.of_value(("owner",)).line if isinstance(value, dict) and "owner" in value else 0
        where = f"{path}:{line}" if line else path
        raise ConfigError(f"{where}: owner: no valid owner to dump for ({_KEY_RULE}); give --owner")
    return owner


@click.command()
@click.option("--owner", metavar="NAME", help="The manifest's owner [default: the owner of the manifest --out names].")
@click.option(
    "--match", "pattern", metavar="REGEX", help="Only imports whose title this regular expression matches (anywhere)."
)
@click.option("--all", "include_own", is_flag=True, help="Also the imports stamped with this owner (under their keys).")
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), help="Write the manifest to this file instead of stdout."
)
@click.option("--force", is_flag=True, help="With --out: overwrite the file if it exists.")
@max_rps_option
@reports_errors
def dump(
    owner: str | None,
    pattern: str | None,
    include_own: bool,
    out_path: str | None,
    force: bool,
    max_rps: float | None,
) -> None:
    """Write a manifest that adopts existing imports: by default every import no owner's stamps claim.

    Each import is written under a key made from its title, with its title, entity and metadata (stamps
    removed) and no csv: its content stays unmanaged. The adopt block names each one's id. Imports stamped
    with another owner are never included; --out never overwrites a file without --force.
    """
    from reconciler.dump import choose, left_out_note, manifest_document, read_imports, render_manifest
    from reconciler.model import is_key

    if out_path == "":
        raise ConfigError("--out: give a file name")
    if force and not out_path:
        raise ConfigError("--force: only with --out, to overwrite the file it names")
    exists = out_path is not None and os.path.lexists(out_path)
    if exists and not force:
        raise ConfigError(f"--out {out_path}: the file exists; pass --force to overwrite it")
    if owner is None:
        if not exists:
            raise ConfigError("--owner: give the manifest's owner (or --out naming a manifest, whose owner is used)")
        assert out_path is not None
        owner = _owner_of(out_path)
    elif not is_key(owner):
        raise ConfigError(f"--owner {owner!r}: not a valid owner: {_KEY_RULE}")
    try:
        match = re.compile(pattern) if pattern is not None else None
    except (re.error, OverflowError, RecursionError) as exc:  # a repeat count too large, nesting too deep
        raise ConfigError(f"--match {pattern!r}: not a valid regular expression: {exc}") from None

    from reconciler.cli.progress import Display
    from reconciler.remote.client import ApiClient

    with ApiClient.from_env(max_rps=max_rps) as client, Display.for_command("dump") as display:
        display.attach(client)
        imports, formats = read_imports(client)
    choice = choose(imports, formats, owner, match=match, include_own=include_own)
    text = render_manifest(manifest_document(owner, choice.keyed))
    if out_path is None:
        click.echo(text, nl=False)
    else:
        from reconciler.files import write_atomically

        try:
            write_atomically(Path(out_path), text)
        except OSError as exc:
            raise ConfigError(f"--out {out_path}: cannot write: {exc.strerror or exc}") from None
    note = left_out_note(choice.left_out)
    if note:
        click.echo(note, err=True)
    if choice.own_not_included:
        n = choice.own_not_included
        click.echo(f"{n} import{'s' if n != 1 else ''} of owner {owner} not included (--all includes them)", err=True)
    count = len(choice.keyed)
    where = f"to {out_path}" if out_path else "above"
    advice = f"; review it, then run: websets-reconciler plan -f {out_path}" if out_path and count else ""
    click.echo(f"Dumped {count} import{'s' if count != 1 else ''} {where}{advice}", err=True)
