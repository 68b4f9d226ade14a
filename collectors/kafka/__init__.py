"""The Kafka tap: hops, correlation, dead letters, rates and lag from Kafka topics.

``tap.KafkaTap`` consumes; ``decode`` turns messages into records; ``headers`` and
``dlq_headers`` are the pure header decoders; ``metrics`` samples rates, lag and DLQ depth.
"""
