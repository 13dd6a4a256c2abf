//! Logging and tracing.
//!
//! Logs go to stdout through `tracing` (JSON when `VBS_LOG_FORMAT=json`, for log shippers).
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP/HTTP, and the
//! W3C trace context is propagated: from incoming `traceparent` headers into request spans, and
//! from spans into outbox messages, so one trace follows a request through the broker.

use opentelemetry::{propagation::TextMapPropagator, trace::TracerProvider as _};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the exporter alive; flushes spans when dropped at shutdown.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(service_name: &'static str) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,amq_protocol=warn"));
    let json = std::env::var("VBS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let fmt_plain = (!json).then(|| tracing_subscriber::fmt::layer().with_target(false));
    let fmt_json = json.then(|| tracing_subscriber::fmt::layer().json().with_current_span(true));

    let provider = if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok() {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name).build();
        Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
    } else {
        None
    };
    let otel_layer =
        provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name)));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    tracing_subscriber::registry().with(filter).with(fmt_plain).with(fmt_json).with(otel_layer).try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Makes `span` a child of the remote context in a `traceparent` value, if it is valid.
pub fn set_remote_parent(span: &Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_owned(), tp.to_owned());
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// The `traceparent` of `span`, when it is part of an exported trace.
pub fn traceparent_of(span: &Span) -> Option<String> {
    let cx = span.context();
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Runs blocking work (diesel) on the blocking pool inside the caller's span, so that its logs
/// and child spans stay attached to the request.
pub async fn spawn_blocking_in_span<F, R>(f: F) -> Result<R, tokio::task::JoinError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await
}
