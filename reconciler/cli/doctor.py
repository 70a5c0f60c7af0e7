"""`doctor`: check the API's open questions against the service the key reaches."""

from __future__ import annotations

import sys

import click

from reconciler.cli.common import max_rps_option, reports_errors
from reconciler.redact import redact


def _say(message: str) -> None:
    click.echo(redact(message), err=True)


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print the rows as a JSON list of {assumption, observed, ok, relied_on}."
)
@max_rps_option
@reports_errors
def doctor(as_json: bool, max_rps: float | None) -> None:
    """Check what the tool relies on but the API docs leave open, against the service the key reaches.

    Reads EXA_API_KEY and EXA_BASE_URL as plan and apply do. Checks authentication, the listing's
    pagination and order, how a PATCH of metadata behaves, upload size enforcement and how long a
    never-uploaded import stays pending, with one throwaway import titled "websets-reconciler doctor:
    throwaway, safe to delete" that is deleted at the end. Prints a table of assumption / observed / ok;
    exits 0 when every assumption the tool relies on holds, 1 otherwise.
    """
    from reconciler.doctor import WRONG_KEY, run
    from reconciler.doctor.rows import failed, render_json, render_text, verdict
    from reconciler.remote.client import ApiClient

    with ApiClient.from_env(max_rps=max_rps) as client, ApiClient(client.base_url, WRONG_KEY, max_rps=0) as stranger:
        client.notice = _say
        report = run(client, stranger, _say)
    click.echo(render_json(report.rows) if as_json else render_text(report.rows, client.base_url))
    _say(verdict(report.rows))
    if report.left_behind is not None:
        _say(report.left_behind)
    if failed(report.rows) or report.left_behind is not None:
        sys.exit(1)
