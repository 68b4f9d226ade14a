"""The SQLite backend: one file in WAL mode shared by the daemon, the TUI and the CLI.

All of the console's SQL lives here: ``db`` opens and migrates the file (``schema``, ``upgrade``);
``writer`` is the one batched writer (retention runs in it: ``retention``); ``ingest`` is its write
path into blocks, keys and summaries; ``read`` and ``rows`` read it back. Callers outside
``console/store/`` hold the interface (``console/store/api.py``), never this package.
"""
