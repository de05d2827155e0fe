"""The ``caravan`` command line (DESIGN.md §7).

One click group; each command family lives in its own module and only parses
arguments, calls into the daemons' client or the machine, and prints. Errors a
user can act on are :class:`CliError` (one line, exit 2 for bad input); no
command prints a traceback unless ``CARAVAN_DEBUG=1``. SIGTERM and SIGHUP
stop a command as Ctrl-C does (:mod:`.signals`).
"""

from __future__ import annotations

import os
import sys

import click

from controller.client_error import ClientError
from . import signals
from .lazy import LazyGroup

COMMANDS = {  # name -> where it lives (imported when used: controller.cli.lazy)
    "run": "controller.cli.run:run_command",
    "vmstate": "controller.cli.vmstate_cmd:vmstate_group",
    "node": "controller.cli.node_cmd:node_group",
    "controller": "controller.cli.controller_cmd:controller_group",
    "cluster": "controller.cli.cluster_cmd:cluster_group",
    "certs": "controller.cli.cluster_cmd:certs_group",
    "vm": "controller.cli.vm_cmd:vm_group",
    "migrate": "controller.cli.migrate_cmd:migrate_command",
    "demo": "controller.cli.demo_cmd:demo_command",
    "job": "controller.cli.migrate_cmd:job_group",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="caravan", prog_name="caravan")
def cli() -> None:
    """Caravan: emulated RISC-V hosts whose VMs live-migrate between nodes."""


def main(argv: list[str] | None = None) -> None:
    with signals.handled():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    try:
        cli.main(args=argv, prog_name="caravan", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "caravan"  # "caravan vm create"
        click.echo(f"{where}: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"caravan: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("caravan: aborted", err=True)
        sys.exit(130)
    except ClientError as exc:
        click.echo(f"caravan: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("caravan: interrupted", err=True)
        sys.exit(130)
    except signals.Terminated as exc:
        click.echo(f"caravan: stopped by {exc}", err=True)
        sys.exit(128 + exc.signum)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:  # refused by the system: a full disk, a closed output, a missing file
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"caravan: {exc.strerror or exc}{where}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("CARAVAN_DEBUG"):
            raise
        click.echo(f"caravan: internal error: {type(exc).__name__}: {exc} (set CARAVAN_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)
