"""OpenTelemetry spans of a trainer, continuing the trace of the activity that started it.

The activity passes its span's W3C trace context as TRACEPARENT (and TRACESTATE); the exporter is
configured by the standard OTEL_* variables the worker passes through (OTEL_EXPORTER_OTLP_ENDPOINT
or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTLP over HTTP; OTEL_TRACES_EXPORTER=none or
OTEL_SDK_DISABLED=true turn it off). Without an endpoint, or without the OpenTelemetry SDK
installed, every function here is a no-op: tracing never fails a trainer. The service name is
`mlo-trainer` unless OTEL_RESOURCE_ATTRIBUTES names another.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

SERVICE_NAME = "mlo-trainer"

_provider: Any = None


def _configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = [e.strip().lower() for e in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if "none" in exporters:
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def _start() -> Any:
    """The tracer provider, set up once; None when tracing is off."""
    global _provider
    if _provider is not None or not _configured():
        return _provider
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:  # the SDK is in requirements.txt; a trainer image without it just does not trace
        sys.stderr.write(f"mlo-trainer tracing: OpenTelemetry SDK not importable ({e}); no spans\n")
        return None
    # OTEL_RESOURCE_ATTRIBUTES may name another service (Resource.create would prefer ours).
    resource = Resource.create({"service.name": SERVICE_NAME, **_resource_attributes_from_env()})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def _resource_attributes_from_env() -> dict[str, str]:
    out: dict[str, str] = {}
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _parent_context() -> Any:
    """The activity's span context from TRACEPARENT/TRACESTATE, or None."""
    traceparent = os.environ.get("TRACEPARENT", "").strip()
    if not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent}
    tracestate = os.environ.get("TRACESTATE", "").strip()
    if tracestate:
        carrier["tracestate"] = tracestate
    return TraceContextTextMapPropagator().extract(carrier)


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any] | None = None) -> Iterator[Any]:
    """A span (child of the activity's when TRACEPARENT is set); yields None when tracing is off.

    An exception escaping the block is recorded on the span, which ends with status ERROR.
    """
    provider = _start()
    if provider is None:
        yield None
        return
    from opentelemetry import trace

    tracer = trace.get_tracer("mlo.trainer")
    with tracer.start_as_current_span(name, context=_parent_context(), attributes=attributes or {}) as s:
        yield s


def shutdown() -> None:
    """Sends the spans still buffered (the process is about to exit); never raises."""
    global _provider
    if _provider is None:
        return
    try:
        _provider.shutdown()
    except Exception as e:  # noqa: BLE001 - a collector that is down must not change the exit code
        sys.stderr.write(f"mlo-trainer tracing: could not send spans: {e}\n")
    _provider = None
