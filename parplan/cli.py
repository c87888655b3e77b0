"""The `parplan` command line: a thin Typer layer; each area registers its own subcommands.

Every subcommand calls a library function that tests can call directly. A `SpecError` becomes one
line on stderr and exit code 2; `--debug` (before the subcommand) shows the traceback instead.
"""

from __future__ import annotations

import itertools
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version

import typer
import typer.main

from parplan.commands import register_all
from parplan.commands.common import show_spec_defaults
from parplan.errors import SpecError

app = typer.Typer(
    name="parplan",
    help="Plan distributed training of Diffusion Transformers (video DiTs): cost model, "
    "topology-aware collectives, ILP planner, month-long GPU estimates and smoke runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
STATE = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        try:
            print(f"parplan {version('parplan')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("parplan (not installed: no version metadata)")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    _version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version."
    ),
) -> None:
    STATE["debug"] = debug


register_all(app)


def click_app() -> typer.core.TyperGroup:
    """The app's command tree, with on/off flags shown without a type (typer's rich help prints
    the type of every option, `<bool>` for a flag that takes no value) and the strategy spec's
    defaults shown where a flag left out means the spec's default."""
    root = typer.main.get_command(app)
    _untyped_flags(root)
    show_spec_defaults(root)
    return root


def _untyped_flags(cmd) -> None:  # noqa: ANN001 (a click command or group)
    help_option = cmd.get_help_option(cmd.context_class(cmd))  # created on demand, then cached
    for param in [*cmd.params, help_option]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(cmd, "commands", {}).values():
        _untyped_flags(sub)


class _HeldWarnings:
    """Warnings as `warning: message` lines, once per message, printed when the command ends:
    a bad input is then exactly one line on stderr (the error), and a warning does not break
    a progress bar. The library re-arms Python's once-per-place registry whenever it silences
    warnings (warnings.catch_warnings), so without this a padding note repeats per planner call."""

    def __init__(self) -> None:
        self.messages: dict[str, None] = {}

    def format(self, message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
        self.messages[str(message)] = None
        return ""

    def flush(self) -> None:
        for message in self.messages:
            print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the Typer app, mapping SpecError to exit 2 with one line."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in itertools.takewhile(lambda a: a.startswith("-"), args)  # before the command
    if debug:
        return _run(args, debug=True)
    held, previous = _HeldWarnings(), warnings.formatwarning
    warnings.formatwarning = held.format
    try:
        code = _run(args, debug=False)
    finally:
        warnings.formatwarning = previous
    if code != 2:
        held.flush()
    return code


def _one_line(text: str) -> str:
    """Control characters from the user's input (a key, a file name) escaped: one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _run(args: list[str], *, debug: bool) -> int:
    try:
        code = click_app().main(args=args, prog_name="parplan", standalone_mode=False)
    except SpecError as err:
        if debug:
            raise
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except typer.Exit as exit_:
        return exit_.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except Exception as err:  # click usage errors carry their own exit code
        if type(err).__name__ == "NoArgsIsHelpError":  # `parplan` alone: the help was printed
            return 0
        code = getattr(err, "exit_code", None)
        if code is not None and hasattr(err, "format_message"):
            command = f"parplan {args[0]} " if args and not args[0].startswith("-") else "parplan "
            print(f"error: {_one_line(err.format_message())} (see `{command}--help`)", file=sys.stderr)
            return code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
