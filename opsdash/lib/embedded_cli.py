"""The command line of the embedded services (``python -m opsdash.lib.embedded_db`` and
``python -m opsdash.lib.embedded_broker``), usable when Django cannot start: one action
word, the data folder from OPSDASH_DATA_DIR (default ``.opsdash`` beside the checkout),
a configuration error as one line on stderr with exit status 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from opsdash.lib.env import ConfigError


def data_dir() -> Path:
    return Path(os.environ.get("OPSDASH_DATA_DIR", Path(__file__).resolve().parents[2] / ".opsdash")).resolve()


def run(module: str, actions: Mapping[str, Callable[[Path], str]], argv: list[str]) -> int:
    """Run ``argv[0]`` (the first action when none is given) and print what it returns."""
    action = argv[0] if argv else next(iter(actions))
    if action not in actions:
        print(f"usage: python -m {module} {'|'.join(actions)}", file=sys.stderr)
        return 2
    try:
        print(actions[action](data_dir()))
    except ConfigError as exc:
        print(f"opsdash: {exc}", file=sys.stderr)
        return 2
    return 0
