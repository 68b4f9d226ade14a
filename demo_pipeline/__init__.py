"""CanvasFlow, the bundled demo: real services on Kafka, instrumented with the OpenTelemetry SDK."""
