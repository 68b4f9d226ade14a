"""The CanvasFlow services; each has its own ``service.name`` and telemetry."""

from demo_pipeline.services.base import Service
from demo_pipeline.services.catalog import CatalogService
from demo_pipeline.services.ingest import ImageProcessor, UploadService
from demo_pipeline.services.notify import NotificationService
from demo_pipeline.services.orders import Fulfillment, OrderOrchestrator, Storefront

__all__ = [
    "CatalogService",
    "Fulfillment",
    "ImageProcessor",
    "NotificationService",
    "OrderOrchestrator",
    "Service",
    "Storefront",
    "UploadService",
]
