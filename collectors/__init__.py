"""Headless receivers: OTLP (traces, metrics, logs) and the Kafka tap. They know nothing of SQL."""
