"""The `chatgate` command: `serve` (gunicorn with the service's settings), `tokens` (service tokens in storage) and
`--version`."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import ScriptInfo

from chatgate import __version__
from chatgate.app import app_from_environment
from chatgate.guard.tokens_cli import tokens

GUNICORN_SETTINGS = "python:chatgate.gunicorn_conf"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chatgate")
def cli() -> None:
    """chatgate: OpenAI chat models behind one small REST service that keeps the key. Settings come from the
    environment and a .env file in the current directory (see docs/configuration.md)."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--port", type=int, help="The port to listen on, on every interface (else PORT, else 5000).")
@click.option("--demo", is_flag=True, help="Answer with the offline demo model: no key, no upstream (DEMO=true).")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(port: int | None, demo: bool, gunicorn_args: tuple[str, ...]) -> None:
    """Serve with gunicorn and the service's settings; any further arguments go to gunicorn (e.g. --workers 4)."""
    if port is not None:
        os.environ["PORT"] = str(port)
    if demo:
        os.environ["DEMO"] = "true"
    command = [sys.executable, "-m", "gunicorn", "--config", GUNICORN_SETTINGS, *gunicorn_args, "chatgate.app:app"]
    os.execv(sys.executable, command)


cli.add_command(tokens)


def main() -> None:
    """Run the command; `tokens` builds the app from the environment, as a served one is."""
    cli(obj=ScriptInfo(create_app=app_from_environment), prog_name="chatgate")
