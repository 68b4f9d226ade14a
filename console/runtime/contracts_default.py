"""Where DLQ contracts come from when ``--contracts`` is not given: the demo's directory.

The dead-letter room (console/dlq/contracts.py) takes its contracts directory from its caller and
never imports the demo; the CLI's ``dlq`` commands and the TUI pass this default in.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_contracts_dir"]


def default_contracts_dir() -> Path:
    """The demo's ``demo_pipeline/contracts`` as installed (it may not exist yet)."""
    import demo_pipeline

    return Path(demo_pipeline.__file__).resolve().parent / "contracts"
