"""A service stand-in: the official OTel SDK (TracerProvider + BatchSpanProcessor + the OTLP
gRPC or HTTP exporter) emitting spans at a steady rate until SIGTERM.

    python -m tests.e2e.sdk_load --transport grpc --endpoint 127.0.0.1:4317 --service svc-a

Every span carries ``load.seq`` and ``load.emitted_ns`` so a test can tell which spans were
emitted when. On SIGTERM the provider shuts down (flushing what is queued) and one JSON line
``{"emitted": N}`` goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time


def _exporter(args: argparse.Namespace) -> object:
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    if args.transport == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        creds = None
        if args.ca:
            with open(args.ca, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        return OTLPSpanExporter(
            endpoint=args.endpoint,
            insecure=creds is None,
            credentials=creds,
            headers=headers,
            timeout=args.timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(
        endpoint=f"{args.endpoint}/v1/traces",
        headers=headers,
        timeout=args.timeout,
        certificate_file=args.ca or None,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True, help="host:port (gRPC) or http(s)://host:port")
    parser.add_argument("--service", required=True)
    parser.add_argument("--rate", type=float, default=200.0, help="spans per second")
    parser.add_argument("--count", type=int, default=0, help="stop after N spans (0: SIGTERM)")
    parser.add_argument("--timeout", type=float, default=30.0, help="exporter timeout, s")
    parser.add_argument("--token", default=None)
    parser.add_argument("--ca", default=None, help="CA certificate (PEM) for TLS")
    parser.add_argument("--attr", action="append", default=[], help="key=value on every span")
    args = parser.parse_args()

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": args.service}))
    provider.add_span_processor(
        BatchSpanProcessor(
            _exporter(args),  # type: ignore[arg-type]  # exporter
            max_queue_size=200_000,
            schedule_delay_millis=200,
            max_export_batch_size=256,
        )
    )
    tracer = provider.get_tracer("e2e.load")
    extra = dict(a.split("=", 1) for a in args.attr)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    seq = 0
    started = time.monotonic()
    while not stop.is_set() and (not args.count or seq < args.count):
        due = started + seq / args.rate
        delay = due - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        with tracer.start_as_current_span(f"load-{seq}") as span:
            span.set_attribute("load.seq", seq)
            span.set_attribute("load.emitted_ns", time.time_ns())
            for k, v in extra.items():
                span.set_attribute(k, v)
        seq += 1
    provider.shutdown()
    print(json.dumps({"emitted": seq}), flush=True)


if __name__ == "__main__":
    main()
