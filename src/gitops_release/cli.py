"""``gitops-release <command>``: the one place where errors become exit codes and ::error lines.

Exit codes: 0 done (including "nothing to change"), 1 failed, 2 usage error.
Standard library only, like runtime.py: the composite actions call ``python3 -m gitops_release``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

from gitops_release import __version__
from gitops_release.commands import COMMANDS
from gitops_release.commands.base import Context
from gitops_release.errors import ReleaseError, UsageError
from gitops_release.runtime import Console, InputReader, InputSpec, markdown_table, output_text, redact

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any, NoReturn


def _top_help() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: gitops-release <command> [--input value ...] [--json]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += [
        "",
        "Every input is also read from INPUT_<NAME> (GitHub Actions). Outputs go to $GITHUB_OUTPUT",
        "inside Actions, or to stdout as JSON with --json. 'gitops-release <command> --help' for inputs.",
        "Exit codes: 0 done, 1 failed, 2 usage error.",
    ]
    return "\n".join(lines)


def _group(word: str) -> list[str]:
    """The commands of a group (``db`` -> ``db query``, ``db validate``); [] for no group."""
    return [name for name in COMMANDS if name.startswith(f"{word} ")]


def _group_help(word: str) -> str:
    members = _group(word)
    width = max(len(name) - len(word) - 1 for name in members)
    lines = [f"usage: gitops-release {word} <command> [--input value ...] [--json]", "", "commands:"]
    lines += [f"  {name[len(word) + 1 :].ljust(width)}  {COMMANDS[name][1]}" for name in members]
    lines += ["", f"'gitops-release {word} <command> --help' for its inputs."]
    return "\n".join(lines)


def _split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    if len(argv) >= 2 and f"{argv[0]} {argv[1]}" in COMMANDS:
        return f"{argv[0]} {argv[1]}", list(argv[2:])
    if argv and argv[0] in COMMANDS:
        return argv[0], list(argv[1:])
    known = ", ".join(_group(argv[0]) or COMMANDS)
    raise UsageError(f"unknown command '{' '.join(argv[:2])}'", fix=f"use one of: {known}")


def _default_text(spec: InputSpec) -> str:
    """The default as --help shows it: '' for none, ``10s`` for a duration."""
    if spec.default in (None, "", (), []):
        return ""
    if spec.kind == "duration" and isinstance(spec.default, (int, float)):
        return f"{spec.default:g}s"
    return output_text(spec.default)


def _build_parser(name: str, module: ModuleType) -> argparse.ArgumentParser:
    # Imported here: in Actions every input comes from INPUT_* and no parser is needed, and
    # dispatch-update's fast path pays for each import (docs/benchmarks.md).
    import argparse

    class _Parser(argparse.ArgumentParser):
        """argparse that raises UsageError instead of exiting, so the CLI owns every exit."""

        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{self.prog}: {message}", fix=f"see '{self.prog} --help'")

    parser = _Parser(prog=f"gitops-release {name}", description=COMMANDS[name][1])
    positional = getattr(module, "POSITIONAL", None)  # an input also given as the one bare argument
    if positional is not None:
        parser.add_argument(
            "_positional", nargs="?", metavar=positional.upper(), help=f"same as --{positional}"
        )
    env_only = getattr(module, "ENV_ONLY", ())  # secrets: no flag (ps and shell history show argv)
    for spec in module.INPUTS:
        if spec.name in env_only:
            continue
        shown = _default_text(spec)
        default = f" (default: {shown})" if shown else ""  # added here: a spec's help must not say it
        required = " (required)" if spec.required else ""
        # argparse's {a,b} metavar and the help line list the choices; the InputReader still
        # checks the value (an INPUT_* variable never passes through argparse).
        choices = f" (one of: {', '.join(spec.choices)})" if spec.choices else ""
        metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else spec.kind.upper()
        # A bare boolean flag means true (--dry-run); --dry-run false still says it explicitly.
        flag_only = {"nargs": "?", "const": "true"} if spec.kind == "bool" else {}
        parser.add_argument(
            f"--{spec.name}",
            dest=spec.name,
            metavar=metavar,
            help=f"{spec.help}{choices}{required}{default}",
            **flag_only,  # type: ignore[arg-type]
        )
    parser.add_argument("--json", action="store_true", help="print the outputs as one JSON object on stdout")
    return parser


def run_command(name: str, args: Sequence[str], env: Mapping[str, str], console: Console) -> int:
    module = importlib.import_module(COMMANDS[name][0])
    flags: dict[str, str] = {}
    as_json = False
    if args:
        namespace = _build_parser(name, module).parse_args(list(args))
        as_json = namespace.json
        flags = {key: value for key, value in vars(namespace).items() if key != "json" and value is not None}
        bare = flags.pop("_positional", None)
        if bare is not None:
            positional = module.POSITIONAL
            if positional in flags:
                raise UsageError(
                    f"gitops-release {name}: {positional} given twice (as --{positional} and as an argument)",
                    fix=f"give it once, e.g. gitops-release {name} VALUE",
                )
            flags[positional] = bare
    inputs = module.Inputs.from_reader(InputReader(env=env, flags=flags))
    ctx = Context(console=console, env=dict(env))  # workdir: the current directory, when used
    restore = _interrupt_on_sigterm() if getattr(module, "INTERRUPT_ON_SIGTERM", False) else None
    try:
        outputs = module.run(inputs, ctx)
    except BaseException as exc:
        # A command may attach what it got so far (ReleaseError.outputs): a failed wait still sets
        # its outputs and writes its summary, before main() writes the ::error line.
        partial = getattr(exc, "outputs", None)
        if partial is not None:
            try:
                _emit(name, partial, console, as_json=as_json)
            except OSError:  # an unwritable output file must not hide the error itself
                pass
        raise
    finally:
        if restore is not None:
            restore()
    _emit(name, outputs, console, as_json=as_json)
    return 0


def _emit(name: str, outputs: Any, console: Console, *, as_json: bool) -> None:
    """The outputs ($GITHUB_OUTPUT), the step summary and the stdout report of a command."""
    values: dict[str, Any] = outputs.as_dict()
    console.write_outputs(values)
    summary = outputs.summary() if hasattr(outputs, "summary") else markdown_table(name, values)
    console.write_summary(summary)
    if as_json:
        print(redact(json.dumps(values, indent=2, default=str)), file=console.out, flush=True)
    elif hasattr(outputs, "report"):
        print(redact(outputs.report()), file=console.out, flush=True)
    elif not console.actions:
        for key, value in values.items():
            print(redact(f"{key}={output_text(value)}"), file=console.out, flush=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM (the runner stopping a cancelled job after its SIGINT), raised like Ctrl-C so the
    command's clean-up (await-argocd-sync: the evidence) runs before the process ends."""


def _interrupt_on_sigterm() -> Callable[[], None] | None:
    """Turn SIGTERM into ``Terminated`` for a command that sets ``INTERRUPT_ON_SIGTERM`` (only
    there: the others keep the default, an immediate end); returns what restores the previous
    handler, or None where no handler can be set (not the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _failure_summary(console: Console, command: str, title: str, text: str) -> None:
    """The step summary of a failed run: the command, the error's title and its one line.

    Written for every command here, where errors become exit codes, so a refusal is as visible
    on the run's page as a success. The line goes in a code block (a fence longer than any
    run of backticks in it): payload values in a message are never rendered as Markdown.
    """
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    heading = f"### {command or 'gitops-release'}: failed"
    try:
        console.write_summary(f"{heading}\n\n**{title}**\n\n{fence}text\n{text}\n{fence}\n")
    except OSError:  # an unwritable summary file must not hide the error itself
        pass


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    console = Console(env=env)
    name = ""
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(_top_help(), file=console.out)
            return 0 if argv else 2
        if argv[0] == "--version":
            print(f"gitops-release {__version__}", file=console.out)
            return 0
        if _group(argv[0]) and (len(argv) == 1 or argv[1] in ("-h", "--help", "help")):
            # `gitops-release db --help`: the group's commands; bare `gitops-release db` is a usage error.
            print(_group_help(argv[0]), file=console.out)
            return 0 if len(argv) > 1 else 2
        name, rest = _split_command(argv)
        if any(a in ("-h", "--help") for a in rest):
            module = importlib.import_module(COMMANDS[name][0])
            print(_build_parser(name, module).format_help(), file=console.out)
            return 0
        return run_command(name, rest, env, console)
    except ReleaseError as exc:
        if env.get("RUNNER_DEBUG") == "1":
            import traceback  # only for debugging: the fast path does not pay for it

            console.info(traceback.format_exc())
        console.annotation("error", exc.one_line(), title=exc.title)
        _failure_summary(console, name, exc.title, exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        message = "terminated (SIGTERM)" if terminated else "interrupted"
        console.annotation("error", message, title="Interrupted")
        return 143 if terminated else 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a raw traceback
        if env.get("RUNNER_DEBUG") == "1":
            import traceback  # only for debugging: the fast path does not pay for it

            console.info(traceback.format_exc())
        message = (
            f"internal error {type(exc).__name__}: {exc}. This is a bug in gitops-release; "
            "re-run with RUNNER_DEBUG=1 for the traceback and report it"
        )
        console.annotation("error", message, title="Internal error")
        _failure_summary(console, name, "Internal error", " ".join(message.split()))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
