"""The base every other room stands on: plain records (``model``), the errors handoff-console
raises on purpose (``errors``), the sink interface the collectors hand records to (``sink``), the
header conventions (``headers``: correlation id and trace context; ``dlq_headers``: what Spring,
Connect and Streams dead letters say of their origin), the shared JSON text encoder
(``jsontext``), where things live and the shared defaults (``config``), and the Kafka client
configuration (``kafka_config``: the one place one is built, from ``--bootstrap``,
``--kafka-config`` and ``-X``).

Pure modules: nothing here does I/O beyond reading the environment and a properties file, and
nothing imports another room of the console. The collectors may import only from here.
"""
