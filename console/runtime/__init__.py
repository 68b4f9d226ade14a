"""What runs: the daemon and its wiring (``daemon``: the store writer plus the receivers, the
tap and the OTLP-over-Kafka consumer as components; ``build_daemon`` is the one wiring path of
``serve``, ``tap``, ``tui`` and ``demo``), the in-process runtime of the TUI (``inprocess``) and
the broker harness (``broker``, ``broker_owner``, ``kafka_release``: a real Apache Kafka from the
official jars).
"""
