"""CanvasFlow, the bundled demo: real services on Kafka, instrumented with the OpenTelemetry SDK.

A stand-in for the user's own services: it imports nothing of ``console`` and talks to the
console only through Kafka and OTLP (plus one synchronous HTTP call between two of its services).

Services (each its own ``service.name``, Tracer/Meter/LoggerProvider), topics under ``<p>.``::

    canvasflow-upload             -> uploads: UploadReceived (some poisoned: "12,50", no artist_id)
    canvasflow-image-processor    uploads -> artworks: ArtworkProcessed | ImageProcessingFailed
    canvasflow-catalog            artworks -> catalog: ArtworkPublished (verified | provisional),
                                  after GET canvasflow-license (httpx, timeout, breaker, fallback)
    canvasflow-license            Starlette on 127.0.0.1:<free port>, GET /licenses/{artwork_id}
    canvasflow-storefront         catalog -> orders: OrderPlaced
    canvasflow-order-orchestrator orders, order-replies -> order-commands, order-status
    canvasflow-fulfillment        order-commands -> order-replies (payment, stock, print, ship)
    canvasflow-notification       artworks, catalog, order-status (choreography)

Every consumed topic has ``<topic>-retry`` (3 quick, 3 slow delays) and ``<topic>-dlt`` (Spring
``kafka_dlt-*`` headers). Contracts: ``contracts/canvasflow.<name>.schema.json``. Run it with
``python -m demo_pipeline`` or ``handoff-console demo``.
"""
