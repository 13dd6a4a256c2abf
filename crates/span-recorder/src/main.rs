//! A stand-in for the OpenTelemetry collector where its image cannot be had (no public
//! registry): receives OTLP/HTTP protobuf spans at `POST /v1/traces`, prints one line per span
//! (healthchecks' aside) and keeps the most recent ones in memory, so that tests and operators
//! can read a whole trace back: `GET /traces/{trace_id}` answers its spans as JSON (ids in lowercase hex).
//!
//! It is not a collector: no batching, no export, no other signal. Point the services at a real
//! collector (`docker/otel-collector.yaml`) to keep spans.

#![allow(clippy::print_stdout, reason = "printing the spans it receives is what it is for")]

use std::{collections::VecDeque, sync::Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
};
use prost::Message;
use serde_json::{Value, json};

/// Spans kept; the oldest are dropped first.
const CAPACITY: usize = 200_000;

#[derive(Default)]
struct Spans(Mutex<VecDeque<Value>>);

impl Spans {
    fn push(&self, span: Value) {
        let mut spans = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if spans.len() == CAPACITY {
            spans.pop_front();
        }
        spans.push_back(span);
    }

    fn of_trace(&self, trace_id: &str) -> Vec<Value> {
        let spans = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        spans.iter().filter(|s| s["trace_id"] == trace_id).cloned().collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(spans: web::Data<Spans>, body: web::Bytes) -> HttpResponse {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().body(format!("not an OTLP protobuf trace export: {e}")),
    };
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            let record = json!({
                "trace_id": hex(&span.trace_id),
                "span_id": hex(&span.span_id),
                "parent_span_id": hex(&span.parent_span_id),
                "name": span.name,
                "service": service,
                "start_unix_nano": span.start_time_unix_nano,
                "end_unix_nano": span.end_time_unix_nano,
            });
            // Healthchecks make a span every few seconds per service: kept, not printed.
            if span.name != "GET /health" {
                println!(
                    "span trace={} span={} parent={} service={} name={:?}",
                    record["trace_id"].as_str().unwrap_or_default(),
                    record["span_id"].as_str().unwrap_or_default(),
                    record["parent_span_id"].as_str().filter(|p| !p.is_empty()).unwrap_or("-"),
                    service,
                    span.name
                );
            }
            spans.push(record);
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse { partial_success: None }.encode_to_vec())
}

async fn trace(spans: web::Data<Spans>, trace_id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(spans.of_trace(&trace_id.to_lowercase()))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let bind = std::env::var("SPAN_RECORDER_BIND").unwrap_or_else(|_| "0.0.0.0:4318".into());
    let spans = web::Data::new(Spans::default());
    println!("span-recorder listening on {bind}");
    HttpServer::new(move || {
        App::new()
            .app_data(spans.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/v1/traces", web::post().to(receive))
            .route("/traces/{trace_id}", web::get().to(trace))
            .route("/health", web::get().to(HttpResponse::Ok))
    })
    .workers(1)
    .bind(&bind)?
    .run()
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex() {
        assert_eq!(hex(&[0x0a, 0xff, 0x00]), "0aff00");
    }

    #[test]
    fn the_oldest_spans_go_first() {
        let spans = Spans::default();
        for i in 0..=CAPACITY {
            spans.push(json!({"trace_id": format!("{}", i % 2)}));
        }
        assert_eq!(spans.of_trace("0").len() + spans.of_trace("1").len(), CAPACITY);
    }
}
