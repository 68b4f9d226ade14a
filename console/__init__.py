"""handoff-console: a terminal operator console for service handoffs over Kafka and OTLP."""

__version__ = "0.1.0"
__all__ = ["__version__"]
