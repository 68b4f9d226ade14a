"""The ``handoff-console`` command line: the typer app (``app``), the options the commands share
(``options``) and one module per feature's commands (``*_cmd``), each with ``register(app)``.
Commands parse and present; the work is in the other rooms.
"""
