//! The committed OpenAPI documents: each service's own, and the API as the gateway serves it,
//! the three merged into one (`openapi/vbs.json`), from which clients are generated.

use service_kit::openapi::committed_json;
use utoipa::openapi::{self, Server};

/// One of the documents under `openapi/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Doc {
    PolicyService,
    TaskScheduler,
    BackupService,
    /// The three merged, as the gateway serves them (`openapi/vbs.json`).
    Gateway,
}

impl Doc {
    pub const ALL: [Self; 4] = [Self::PolicyService, Self::TaskScheduler, Self::BackupService, Self::Gateway];

    pub fn file_name(self) -> &'static str {
        match self {
            Self::PolicyService => "policy-service.json",
            Self::TaskScheduler => "task-scheduler.json",
            Self::BackupService => "backup-service.json",
            Self::Gateway => "vbs.json",
        }
    }

    /// The document as committed.
    pub fn json(self) -> anyhow::Result<String> {
        Ok(match self {
            Self::Gateway => committed_json(&gateway_document()?),
            service => committed_json(&service_document(service)),
        })
    }
}

/// One service's document.
fn service_document(service: Doc) -> openapi::OpenApi {
    match service {
        Doc::PolicyService => policy_service::openapi::document().api,
        Doc::TaskScheduler => task_scheduler::openapi::document().api,
        Doc::BackupService | Doc::Gateway => backup_service::openapi::document().api,
    }
}

/// The merged document. Paths, schemas, security schemes and tags of every service are kept;
/// where two services describe the same schema (the error envelopes) the first description wins,
/// and a path served by two services is refused: the gateway could route it to only one.
fn gateway_document() -> anyhow::Result<openapi::OpenApi> {
    let mut merged = service_document(Doc::PolicyService);
    for service in [Doc::TaskScheduler, Doc::BackupService] {
        let doc = service_document(service);
        if let Some(path) = doc.paths.paths.keys().find(|p| merged.paths.paths.contains_key(*p)) {
            anyhow::bail!("{path} is described by two services");
        }
        merged.merge(doc);
    }
    merged.info.title = "VBS — Volume Backup Service".into();
    merged.info.description = Some(
        "The whole public API as the gateway serves it: backup policies, their tasks, and backups \
         (the VBS API of Huawei Cloud / Open Telekom Cloud and the OpenStack Cinder native backup API). \
         Every request carries a token in `X-Auth-Token`."
            .into(),
    );
    merged.servers = Some(vec![Server::new("http://127.0.0.1:8080")]);
    add_gateway_answers(&mut merged);
    Ok(merged)
}

/// What the gateway itself may answer to any operation, before a service sees the request
/// (`docker/gateway/nginx.conf`, in the envelope of the path's API): a body over its 1 MiB
/// limit, a URI or headers over its buffers. (Its 503 for a service that is down is every
/// operation's 503 already; its 400 for an unparsable request line and 405 for a method it
/// refuses belong to no operation.)
fn add_gateway_answers(doc: &mut openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (path, item) in &mut doc.paths.paths {
        let schema = backup_service::openapi::error_schema(path);
        for operation in api_types::openapi::operations(item).into_iter().flatten() {
            for (status, description) in [
                ("413", "The request body is too large (the gateway's limit is 1 MiB)"),
                ("414", "The request URI is too long for the gateway"),
                ("431", "The request headers are too large for the gateway"),
            ] {
                api_types::openapi::add_answer(components, operation, status, description, schema);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const SERVICES: [Doc; 3] = [Doc::PolicyService, Doc::TaskScheduler, Doc::BackupService];

    #[test]
    fn the_committed_gateway_document_is_up_to_date() {
        let committed =
            std::fs::read_to_string(service_kit::testing::repo_file("openapi/vbs.json")).unwrap_or_default();
        assert!(
            committed == Doc::Gateway.json().unwrap(),
            "openapi/vbs.json is out of date: run `make openapi` and commit the result"
        );
    }

    #[test]
    fn every_service_path_is_in_the_gateway_document() {
        let merged = gateway_document().unwrap();
        for service in SERVICES {
            // The service's description, plus what the gateway itself may answer.
            let mut doc = service_document(service);
            add_gateway_answers(&mut doc);
            for (path, item) in doc.paths.paths {
                let got = merged.paths.paths.get(&path).unwrap_or_else(|| panic!("{path} missing"));
                assert!(got == &item, "{path} differs from the service's description");
                for operation in [&got.get, &got.put, &got.post, &got.delete].into_iter().flatten() {
                    for status in ["414", "431", "500", "503"] {
                        assert!(operation.responses.responses.contains_key(status), "{path}: no {status}");
                    }
                }
            }
        }
        assert!(merged.paths.paths.contains_key("/v2/{project_id}/backuppolicy/{policy_id}/backuptasks"));
        assert!(merged.paths.paths.contains_key("/v3/{project_id}/native/backups/{backup_id}"));
    }
}
