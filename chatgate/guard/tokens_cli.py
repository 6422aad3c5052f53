"""`chatgate tokens ...` (or `flask --app main tokens ...`): service tokens kept in storage, made and revoked
without a restart."""

from __future__ import annotations

import datetime

import click
from flask import Flask
from flask.cli import AppGroup
from limits import parse

from chatgate.config import ConfigError, spend_amount
from chatgate.guard.access import token_registry
from chatgate.guard.token_store import seconds_of

tokens = AppGroup("tokens", help="Service tokens kept in storage: create, list, revoke, reopen (no restart needed).")


def _limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a limit such as 60/minute or 100000/day") from None
    return value


def _spend(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            spend_amount(value, "--spend-limit")
        except ConfigError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    try:
        return seconds_of(value) if value is not None else None
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@tokens.command("create")
@click.argument("name")
@click.option("--expires", callback=_duration, help="How long it works: 30d, 12h, 90m or seconds.")
@click.option("--rate-limit", callback=_limit, help="Its own request rate, e.g. 60/minute (else RATE_LIMIT).")
@click.option("--token-limit", callback=_limit, help="Its own token budget, e.g. 100000/day (else TOKEN_LIMIT).")
@click.option("--spend-limit", callback=_spend, help="Its own budget in US dollars, e.g. 5/day (else SPEND_LIMIT).")
@click.option("--models", help="The only models it may use, comma-separated (else all).")
@click.option("--no-cache", is_flag=True, help="Its requests never read nor write the response cache.")
def create(
    name: str,
    expires: int | None,
    rate_limit: str | None,
    token_limit: str | None,
    spend_limit: str | None,
    models: str | None,
    no_cache: bool,
) -> None:
    """Make a token called NAME and print it, once: only its hash is kept."""
    chosen = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    try:
        token = token_registry().store.create(
            name,
            expires_in=expires,
            rate_limit=rate_limit,
            token_limit=token_limit,
            models=chosen,
            spend_limit=spend_limit,
            cache=not no_cache,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(token)


@tokens.command("list")
def list_tokens() -> None:
    """List the stored tokens (names and policies, never the tokens)."""
    for stored in token_registry().store.listing():
        state = "active" if stored.active else ("revoked" if stored.revoked_at else "expired")
        expires = (
            datetime.datetime.fromtimestamp(stored.expires_at, datetime.UTC).isoformat(timespec="seconds")
            if stored.expires_at
            else "never"
        )
        click.echo(
            f"{stored.name}\t{state}\texpires {expires}\trate {stored.rate_limit or '-'}\t"
            f"tokens {stored.token_limit or '-'}\tspend {stored.spend_limit or '-'}\t"
            f"models {','.join(stored.models or ()) or 'all'}" + ("" if stored.cache else "\tcache off")
        )


@tokens.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the token called NAME: every instance refuses it within a second."""
    if not token_registry().store.revoke(name):
        raise click.ClickException(f"no active token named {name!r}")
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
