"""What every command line (`python -m pga_jax.<tool>`) shares beyond `errors.exit_with`:
asking for help is a success, and an experiment is named as `get_config` names it.

absl ends `--help` (and `-h`, `--helpshort`, `--helpfull`) with exit status 1, which scripts
and CI read as a failure; `parse_flags` keeps absl's help text and exits 0 after it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def asks_for_help(argv: list[str]) -> bool:
    return any(a.split("=", 1)[0] in HELP_FLAGS for a in argv[1:])


@contextlib.contextmanager
def help_exits_zero(argv: list[str]) -> Iterator[None]:
    """absl's help flags print the usage and exit 1 while parsing: here they exit 0."""
    try:
        yield
    except SystemExit as e:
        if e.code == 1 and asks_for_help(argv):
            sys.exit(0)
        raise


def parse_flags(argv: list[str], parser: Callable[[list[str]], list[str]] | None = None):
    """`parser(argv)` (default: absl's own, `app.parse_flags_with_usage`), help exiting 0; for
    `app.run(main, flags_parser=commands.parse_flags)`."""
    if parser is None:
        from absl import app  # noqa: PLC0415

        parser = app.parse_flags_with_usage
    with help_exits_zero(argv):
        return parser(argv)


def experiment_path(spec: str) -> str:
    """`--config`'s value with an experiment's name resolved to its file, as `get_config` does:
    "fashion_mnist_lpga:smoke" -> "<experiments>/fashion_mnist_lpga.py:smoke" (the source
    checkout's experiments/, or a wheel's pga_jax.experiments). A path (anything with a "/"
    or ending in .py) is kept as given."""
    from pga_jax import configs  # noqa: PLC0415

    name, variant = configs.split_variant(spec)
    if not name or name.endswith(".py") or os.sep in name or "/" in name:
        return spec
    path = os.path.join(configs.EXPERIMENTS_DIR, f"{name}.py")
    if not os.path.isfile(path):
        return spec  # reported by the caller as "no such file / no such experiment"
    return f"{path}:{variant}" if variant else path


def with_experiment_paths(argv: list[str], flag: str = "--config") -> list[str]:
    """argv with `--config=NAME[:variant]` (or `--config NAME`) resolved by `experiment_path`."""
    out, resolve_next = [], False
    for a in argv:
        if resolve_next:
            a, resolve_next = experiment_path(a), False
        elif a == flag:
            resolve_next = True
        elif a.startswith(flag + "="):
            a = f"{flag}={experiment_path(a[len(flag) + 1 :])}"
        out.append(a)
    return out


def user_error_in(error: BaseException):
    """The innermost `errors.UserError` in `error`'s chain of causes (ml_collections wraps a
    config file's ConfigError in its own, with a traceback in the message), or None."""
    from pga_jax import errors  # noqa: PLC0415

    found, seen = None, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, errors.UserError):
            found = error
        error = error.__cause__ or error.__context__
    return found
