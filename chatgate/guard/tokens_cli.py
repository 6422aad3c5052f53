"""`chatgate tokens ...` (or `flask --app main tokens ...`): service tokens kept in storage, made and revoked
without a restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

import chatgate.guard.token_admin as token_admin
from chatgate.guard.access import token_registry

tokens = AppGroup("tokens", help="Service tokens kept in storage: create, list, revoke, reopen (no restart needed).")


def _checked(check: Callable[[Any, str], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback from one of token_admin's checks: its sentence, as a bad parameter."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            return check(value, f"--{(param.name or '').replace('_', '-')}")
        except ValueError as error:
            raise click.BadParameter(str(error)) from None

    return callback


@tokens.command("create")
@click.argument("name")
@click.option("--expires", callback=_checked(token_admin.checked_expiry), help="How long it works: 30d, 12h or 90m.")
@click.option("--rate-limit", callback=_checked(token_admin.checked_limit), help="Its own request rate (60/minute).")
@click.option("--token-limit", callback=_checked(token_admin.checked_limit), help="Its own token budget (100000/day).")
@click.option(
    "--spend-limit", callback=_checked(token_admin.checked_spend), help="Its own budget in US dollars (5/day)."
)
@click.option("--models", help="The only models it may use, comma-separated (else all).")
@click.option("--no-cache", is_flag=True, help="Its requests never read nor write the response cache.")
@click.option("--admin", is_flag=True, help="An admin token: the admin page and API, everyone's usage.")
def create(
    name: str,
    expires: int | None,
    rate_limit: str | None,
    token_limit: str | None,
    spend_limit: str | None,
    models: str | None,
    no_cache: bool,
    admin: bool,
) -> None:
    """Make a token called NAME and print it, once: only its hash is kept."""
    try:
        token, _ = token_admin.create(
            token_registry().store,
            name,
            expires_in=expires,
            rate_limit=rate_limit,
            token_limit=token_limit,
            spend_limit=spend_limit,
            models=models.split(",") if models else None,
            admin=admin,
            cache=not no_cache,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(token)


@tokens.command("list")
def list_tokens() -> None:
    """List the stored tokens (names and policies, never the tokens)."""
    for stored in token_registry().store.listing():
        shown = token_admin.described(stored)
        click.echo(
            f"{shown['name']}\t{shown['state']}\texpires {shown['expires_at'] or 'never'}\t"
            f"rate {shown['rate_limit'] or '-'}\ttokens {shown['token_limit'] or '-'}\t"
            f"spend {shown['spend_limit'] or '-'}\tmodels {','.join(shown['models'] or ()) or 'all'}"
            + ("\tadmin" if shown["admin"] else "")
            + ("" if shown["cache"] else "\tcache off")
        )


@tokens.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the token called NAME: every instance refuses it within a second."""
    try:
        token_admin.revoke(token_registry().store, name)
    except LookupError as error:
        raise click.ClickException(str(error.args[0])) from None
    click.echo(f"revoked {name}")


@tokens.command("reopen")
def reopen() -> None:
    """Forget the revoked and expired tokens; with none left the service is open again (sessions and usage stay)."""
    registry = token_registry()
    forgotten = registry.store.forget_unusable()
    click.echo(f"forgot {len(forgotten)} revoked or expired token(s)")
    if registry.access_control():
        click.echo("access control stays on: usable tokens, API_TOKENS, ADMIN_TOKENS or sign-in remain")
    else:
        click.echo("the service is open: anyone who can reach it can spend its key (set API_TOKENS to close it)")


def init_app(app: Flask) -> None:
    app.cli.add_command(tokens)
