"""The `cds` command line.

Each module in this package adds one group of commands through a
``register(app)`` function; `main` collects them, so a new command group is a
new module and nothing else. Errors a user can cause end in a one-line message
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import NoReturn

import click
import typer

app = typer.Typer(
    name="cds",
    help="Clinical decision support for frailty screening and discharge pathways (CDS Hooks 2.0, FHIR R4).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class UserError(Exception):
    """An error the user can fix (bad file, bad argument): printed as one line, exit 2."""


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(app)


def _fail(message: str) -> NoReturn:
    print(f"cds: error: {message}", file=sys.stderr)
    sys.exit(2)


#: Click's errors (missing or unknown option, argument or command; typer >= 0.22 vendors click as its own).
_CLICK_ERRORS: tuple[type[Exception], ...] = tuple({click.ClickException, getattr(typer, "TyperException", click.ClickException)})


def main() -> None:
    """Run the command line: a user's mistake is one line on stderr and exit 2 (no usage block)."""
    _register_all()
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        _fail(str(exc))
    except _CLICK_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `cds rules`: the group's help
            print(ctx.get_help())
            sys.exit(2)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{message}{hint}")
    except (click.Abort, typer.Abort, KeyboardInterrupt):
        _fail("aborted")
    sys.exit(code if isinstance(code, int) else 0)
