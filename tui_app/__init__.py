"""The Textual application of handoff-console: screens, widgets, messages and styles.

``tui.py`` at the top of the checkout is the entry (``make_app``); nothing under ``console/``
imports this package, so the collectors and the CLI never load Textual.
"""
