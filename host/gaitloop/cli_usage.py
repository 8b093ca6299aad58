"""How the `gaitloop` CLI talks on the terminal: plain help text and one-line usage errors.

Why not typer's defaults: its rich mode draws help and usage errors in boxes (several lines
for one mistake, hard to grep, garbled in logs), keeps docstring line breaks so paragraphs
break mid-sentence, and labels list options `<list[str]>`. The README promises one line on
stderr per error; this module keeps that promise for click's own usage errors as well as for
`GaitloopError`s, so no command has to remember it.

`run(app, argv)` builds the click command once, tidies every option's help record, and runs
it outside click's standalone mode so that each exception is turned into exactly one line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import typer
from typer import _click as click  # typer >= 0.2x vendors (a trimmed) click
from typer._click import exceptions as cx
from typer._click.globals import get_current_context
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.exceptions import Abort, Exit

from gaitloop.errors import GaitloopError

#: exit status of a usage error (click's and POSIX getopt's convention)
EXIT_USAGE = 2
#: exit status of an error reported by a command (`GaitloopError`)
EXIT_ERROR = 1


def one_line(text: str) -> str:
    """All whitespace runs (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def version_text() -> str:
    """`gaitloop X (firmware Y, protocol Z)`: the host from its installed metadata, the
    firmware and wire protocol from the modules a flash would copy to the board."""
    try:
        host = metadata.version("gaitloop")
    except metadata.PackageNotFoundError:  # running from a source tree without an install
        from gaitloop import __version__ as host
    from gaitfw import protocol
    from gaitfw.app import FW_VERSION

    return f"gaitloop {host} (firmware {FW_VERSION}, protocol {protocol.VERSION})"


_ROOT = str(Path(__file__).resolve().parents[2]) + os.sep
_LONG_FLOAT = re.compile(r"\d+\.\d{5,}")


def _readable_record(record: tuple[str, str] | None) -> tuple[str, str] | None:
    """A help row without this checkout's absolute path or 16-digit floats in its defaults."""
    if record is None:
        return None
    name, text = record
    text = text.replace(_ROOT, "")
    text = _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.4g}", text)
    return name, text


def _tidy_param(cmd: click.Command, param: click.Parameter) -> None:
    if isinstance(param, TyperOption) and param.multiple and param.metavar is None:
        # typer labels a repeatable option `<list[str]>`: show the element, say it repeats
        label = param.display_type(click.Context(cmd))
        if label.startswith("<list[") and label.endswith("]>"):
            param.metavar = "<" + label[len("<list[") : -len("]>")].lower() + ">"
        help_ = (param.help or "").rstrip()
        if "repeat" not in help_.lower():
            sep = "" if not help_ else (" " if help_[-1] in ".!?" else ". ")
            param.help = help_ + sep + "Repeatable."
    if isinstance(param, TyperArgument) and param.metavar is None and param.name:
        # `gaitloop info FILE`, as click and man pages write it (typer writes `{file}`)
        shown = param.name.upper() + ("..." if param.nargs != 1 else "")
        param.metavar = param.name.upper()
        param._usage_display_name = (lambda s=shown, req=param.required: s if req else f"[{s}]")
    get_record = param.get_help_record
    param.get_help_record = lambda ctx, get=get_record: _readable_record(get(ctx))


def _tidy(cmd: click.Command) -> None:
    """Help a person can read: plain metavars, whole first paragraphs in command lists."""
    for param in cmd.params:
        _tidy_param(cmd, param)
    if isinstance(cmd, TyperGroup):
        for sub in cmd.commands.values():
            if sub.short_help is None and sub.help:
                # the whole first paragraph, wrapped by the formatter: click's default cuts it
                # at ~45 characters or at the first ". " ("eq. 8" ends a "sentence")
                sub.short_help = one_line(sub.help.split("\n\n")[0])
            _tidy(sub)


def usage_error(message: str) -> cx.UsageError:
    """A usage mistake found in a command's body (options that go together or exclude each
    other): reported like click's own, one line and exit 2, naming the command's --help."""
    return cx.UsageError(message, ctx=get_current_context(silent=True))


def build_command(app: typer.Typer) -> click.Command:
    """The click command tree of `app`, tidied for help output."""
    cmd = typer.main.get_command(app)
    _tidy(cmd)
    return cmd


def _usage_hint(exc: cx.UsageError, root: click.Command, args: list[str], prog: str) -> str:
    """Where to read more: the help of the command the error is about. Some errors come
    without a context (an option lacking its value), so the path is also read off argv."""
    if exc.ctx is not None:
        path = exc.ctx.command_path
    else:
        words, cmd = [prog], root
        for arg in args:
            sub = cmd.commands.get(arg) if isinstance(cmd, TyperGroup) else None
            if sub is None:
                break
            words.append(arg)
            cmd = sub
        path = " ".join(words)
    return f" (see '{path} --help')"


def run(app: typer.Typer, argv: Sequence[str] | None = None, prog_name: str = "gaitloop") -> int:
    """Run the CLI; return the exit status. Errors are printed as one line on stderr:
    usage errors exit 2, a `GaitloopError` 1, Ctrl-C 130."""
    args = list(sys.argv[1:] if argv is None else argv)
    cmd = build_command(app)
    try:
        with cmd.make_context(prog_name, args) as ctx:
            cmd.invoke(ctx)
        return 0
    except cx.NoArgsIsHelpError as exc:
        # `gaitloop` or `gaitloop train` alone: the help the user was after, not an error
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        return 0
    except cx.UsageError as exc:
        print(f"error: {one_line(exc.format_message())}{_usage_hint(exc, cmd, args, prog_name)}", file=sys.stderr)
        return EXIT_USAGE
    except Exit as exc:  # --help, --version, typer.Exit(code)
        return exc.exit_code
    except cx.ClickException as exc:  # e.g. FileError from a typer.FileText option
        print(f"error: {one_line(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except (Abort, EOFError):  # a prompt closed by Ctrl-D
        print("error: aborted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader went away (`gaitloop ... | head`): nothing to say and nowhere to say it;
        # point stdout at /dev/null so the interpreter's final flush stays quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except GaitloopError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
