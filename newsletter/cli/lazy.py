"""Command groups that import a command's module only when that command runs or is asked for its help.

Typer builds each command from its function's signature, so a plain Typer app has to import every
command module (and through them SQLAlchemy, Jinja, the feedback parsers…) before it can even print
``--help``. ``LazyGroup`` knows each command by name, the ``module:attribute`` that defines it and its
one-line help, lists them from that table, and imports a module only in ``get_command``, which click
calls when the command is invoked, completed or asked for its own ``--help``.

Adding a command is one entry in ``newsletter/cli/app.py``'s ``COMMANDS``::

    Lazy("worker", "newsletter.cli.worker:worker_command", "Run a send worker until stopped."),

The target is a command function (typed like any Typer command) or a ``typer.Typer`` holding a group
of subcommands. The help is the first line of the function's docstring (or the group's ``help``);
``tests/cli/test_startup.py`` checks that it matches and that no ``--help`` imports the heavy parts.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin

import typer
from typer import _click
from typer._coercion import RuntimeParam, TypeDescriptor
from typer._param_types import coerce_cli_path
from typer.core import TyperCommand, TyperGroup, TyperOption, _TyperParameter
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

PLAIN_TYPES = (str, bool, Path, int, float)
"""Annotations whose command-line values need no pydantic: text, flags, paths and numbers (and lists)."""


class PlainFlag(TyperOption):
    """A flag read without Typer's conversion. Typer converts every value with a pydantic TypeAdapter,
    even a ``--help`` left out (None, to become False): that alone imports pydantic into every run."""

    def process_value(self, ctx: _click.Context, value: Any) -> Any:
        value = bool(value)
        return self.callback(ctx, self, value) if self.callback is not None else value


@dataclass(frozen=True)
class PlainValue(RuntimeParam):
    """Converts a text, flag, path or number the way Typer does, without the pydantic ``TypeAdapter``
    Typer builds for every parameter of the command being run: building them (and importing
    ``typer._adapters``) cost 0.12 s of CPU per command on this machine, a fifth of a small send.

    Paths still go through Typer's own checks (``coerce_cli_path``), asked for the plain value; numbers
    are held to the option's ``min`` and ``max`` (or clamped to them, with ``clamp``).
    """

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
        origin: Any = get_origin(self.annotation)
        if origin is list:
            (item_type,) = get_args(self.annotation)
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self._one(item_type, item, param, ctx) for item in items]
        return self._one(self.annotation, value, param, ctx)

    def _one(self, annotation: Any, value: Any, param: _TyperParameter, ctx: _click.Context) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if annotation is Path:
            checked = coerce_cli_path(value, self.parameter_info, path_type=None, param=param, ctx=ctx)
            return Path(os.fsdecode(checked))
        if annotation is bool:
            return bool(value)
        if annotation in (int, float):
            return self._number(annotation, value, param, ctx)
        return str(value)

    def _number(self, kind: type[float], value: Any, param: _TyperParameter, ctx: _click.Context) -> float:
        word = "a whole number" if kind is int else "a number"
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise _click.exceptions.BadParameter(f"{value!r} is not {word}", ctx=ctx, param=param) from None
        low, high = self.parameter_info.min, self.parameter_info.max
        if self.parameter_info.clamp:
            number = max(number, kind(low)) if low is not None else number
            return min(number, kind(high)) if high is not None else number
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"from {low}" if high is None else f"up to {high}" if low is None else f"{low} to {high}"
            raise _click.exceptions.BadParameter(f"{number} is out of range: {bounds}", ctx=ctx, param=param)
        return number


def plain_value(descriptor: TypeDescriptor) -> PlainValue | None:
    """A ``PlainValue`` for a parameter that needs nothing more; None leaves it to Typer."""
    annotation: Any = descriptor.annotation
    info = descriptor.parameter_info
    origin: Any = get_origin(annotation)
    if origin is list:
        annotation = get_args(annotation)[0]
    plain = (
        annotation in PLAIN_TYPES
        and descriptor.file_annotation is None
        and info.parser is None
        and getattr(info, "click_type", None) is None
        and not descriptor.is_choice
        and not (annotation is Path and (info.path_type is not None or info.allow_dash))
    )
    return PlainValue(parameter_info=info, annotation=descriptor.annotation) if plain else None


def convert_plainly(command: _click.Command) -> _click.Command:
    """Give each text, flag and path parameter of ``command`` its ``PlainValue``."""
    for param in command.params:
        if isinstance(param, _TyperParameter) and param._runtime_param is None:
            param._runtime_param = plain_value(param.type_descriptor)
    return command


class PlainHelp(_click.Command):
    """A command whose ``--help`` is a ``PlainFlag``."""

    _plain_help: TyperOption | None = None

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        if self._plain_help is None:
            typer_help = super().get_help_option(ctx)
            if typer_help is not None:  # the same option (names, text, callback), read plainly
                self._plain_help = PlainFlag(
                    param_decls=[*typer_help.opts],
                    type_descriptor=typer_help.type_descriptor,
                    is_flag=True,
                    expose_value=False,
                    is_eager=True,
                    help=typer_help.help,
                    callback=typer_help.callback,
                )
        return self._plain_help


class PlainHelpCommand(PlainHelp, TyperCommand):
    pass


class FullHelpGroup(PlainHelp, TyperGroup):
    """A group whose command list shows each command's whole first help line, wrapped, not cut at 45."""

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        rows = [(name, self.short_help_of(ctx, name)) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def short_help_of(self, ctx: _click.Context, name: str) -> str:
        command = self.get_command(ctx, name)
        return first_paragraph((command.short_help or command.help or "") if command else "")


@dataclass(frozen=True)
class Lazy:
    """One command: its name, where it is defined (``package.module:attribute``) and its one-line help."""

    name: str
    target: str
    help: str

    def load(self) -> _click.Command:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            for info in found.registered_commands:  # its subcommands' --help read plainly too
                if info.cls in (None, TyperCommand):
                    info.cls = PlainHelpCommand
            group: TyperGroup = get_group_from_info(
                TyperInfo(found, name=self.name, cls=FullHelpGroup),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=None,  # plain help, like the root's: rich is not imported for it
            )
            for subcommand in group.commands.values():
                convert_plainly(subcommand)
            return group
        command = get_command_from_info(
            CommandInfo(name=self.name, callback=found, cls=PlainHelpCommand),
            pretty_exceptions_short=True,
            rich_markup_mode=None,
        )
        return convert_plainly(command)


class LazyGroup(FullHelpGroup):
    """The root group: commands come from ``lazy`` (set by a subclass) and are built on first use."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*self.lazy, *(name for name in self.commands if name not in self.lazy)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = self.lazy[cmd_name].load()
        return self.commands.get(cmd_name)

    def short_help_of(self, ctx: _click.Context, name: str) -> str:
        entry = self.lazy.get(name)
        return entry.help if entry is not None else super().short_help_of(ctx, name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        """As Typer's, with "did you mean" drawn from every command, loaded or not."""
        try:
            return self._click_resolve_command(ctx, args)
        except _click.exceptions.UsageError as error:
            from difflib import get_close_matches

            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and self.suggest_commands:
                suggestions = ", ".join(repr(match) for match in matches)
                error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


def lazy_table(entries: Sequence[Lazy]) -> dict[str, Lazy]:
    """``{name: entry}``, refusing a name given twice (a later line would silently hide an earlier one)."""
    table: dict[str, Lazy] = {}
    for entry in entries:
        if entry.name in table:
            raise ValueError(f"command {entry.name!r} is registered twice")
        table[entry.name] = entry
    return table


def first_paragraph(help: str) -> str:
    """A docstring's first paragraph on one line: what a command list shows."""
    return " ".join(help.split("\n\n", 1)[0].split())
