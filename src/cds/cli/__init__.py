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


def main() -> None:
    _register_all()
    try:
        app(standalone_mode=True)
    except UserError as exc:
        print(f"cds: error: {exc}", file=sys.stderr)
        sys.exit(2)
