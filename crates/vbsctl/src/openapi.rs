//! The API as the gateway serves it: the three services' documents merged into one
//! (`openapi/vbs.json`, `make openapi`), from which clients are generated.

use utoipa::{
    OpenApi,
    openapi::{self, Server},
};

/// One service's document.
pub fn service_document(service: Service) -> openapi::OpenApi {
    match service {
        Service::PolicyService => policy_service::openapi::ApiDoc::openapi(),
        Service::TaskScheduler => task_scheduler::openapi::ApiDoc::openapi(),
        Service::BackupService => backup_service::openapi::ApiDoc::openapi(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    PolicyService,
    TaskScheduler,
    BackupService,
}

/// The merged document. Paths, schemas, security schemes and tags of every service are kept;
/// where two services describe the same schema (the error envelopes) the first description wins,
/// and a path served by two services is refused: the gateway could route it to only one.
pub fn gateway_document() -> anyhow::Result<openapi::OpenApi> {
    let mut merged = service_document(Service::PolicyService);
    for service in [Service::TaskScheduler, Service::BackupService] {
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
    Ok(merged)
}

/// The merged document as committed: pretty JSON with a trailing newline.
pub fn gateway_document_json() -> anyhow::Result<String> {
    let mut json = gateway_document()?.to_pretty_json()?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_committed_gateway_document_is_up_to_date() {
        let committed =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/vbs.json"))
                .unwrap_or_default();
        assert!(
            committed == gateway_document_json().unwrap(),
            "openapi/vbs.json is out of date: run `make openapi` and commit the result"
        );
    }

    #[test]
    fn every_service_path_is_in_the_gateway_document() {
        let merged = gateway_document().unwrap();
        for service in [Service::PolicyService, Service::TaskScheduler, Service::BackupService] {
            for (path, item) in service_document(service).paths.paths {
                let got = merged.paths.paths.get(&path).unwrap_or_else(|| panic!("{path} missing"));
                assert!(got == &item, "{path} differs from the service's description");
            }
        }
        assert!(merged.paths.paths.contains_key("/v2/{project_id}/backuppolicy/{policy_id}/backuptasks"));
        assert!(merged.paths.paths.contains_key("/v3/{project_id}/native/backups/{backup_id}"));
    }
}
