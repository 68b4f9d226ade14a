"""``--smoke``, which every benchmark script takes: seconds, tiny sizes, no figure judged.

CI runs each script this way (tests/test_bench_smoke.py) so a benchmark cannot rot unseen: its
imports, its setup and every phase it measures still run, on sizes that prove nothing about speed.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_smoke", "smoke_sizes"]

HELP = "Run every phase on tiny sizes in seconds (CI): the figures printed mean nothing."


def add_smoke(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--smoke", action="store_true", help=HELP)


def smoke_sizes(args: argparse.Namespace, **sizes: Any) -> argparse.Namespace:
    """With ``--smoke``, replace the named arguments by these tiny values."""
    if args.smoke:
        for name, value in sizes.items():
            if not hasattr(args, name):
                raise AttributeError(f"--smoke sets {name!r}, which the script does not take")
            setattr(args, name, value)
    return args
