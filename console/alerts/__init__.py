"""Alerts: rules in Prometheus's shape evaluated by the runtime over the store.

- ``rules``: the TOML rules file (``--rules FILE``) and the defaults
- ``observe``: what each kind of rule sees now, through the readers the panels use
- ``engine``: pending, firing and resolved over time, kept in the store (``Evaluator``)
- ``alertmanager``: Alertmanager's API v2 (``POST /api/v2/alerts``), re-posted while firing

The ``watch`` command (``console/cli/watch_cmd.py``) and the TUI's alerts screen call these.
"""

from console.alerts.engine import Alert, Evaluator, recent_alerts
from console.alerts.rules import Rule, load_rules, parse_rules

__all__ = ["Alert", "Evaluator", "Rule", "load_rules", "parse_rules", "recent_alerts"]
