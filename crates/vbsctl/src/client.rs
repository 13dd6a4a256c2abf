//! A typed client of the public API, as a tenant's tooling calls it through the gateway. The
//! HTTP contract tests (`tests/contracts.rs`) pin what it sends and what it relies on in the
//! answers to pacts in `pacts/`, which each provider verifies against its real service.

use api_types::dto::{
    BackupCreatedResponse, BackupDetailResponse, CreateNativeBackupRequest, CreatePolicyRequest,
    PolicyIdResponse, PolicyListResponse, TaskListResponse, UpdatePolicyRequest,
};
use serde::{Serialize, de::DeserializeOwned};

/// A failed call: the HTTP status and the body the API answered (its error envelope).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {body}")]
    Api { status: u16, body: String },
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// The filters and paging of the task query (`GET …/backuppolicy/{policy_id}/backuptasks`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// The API of one project, through `base_url` (the gateway, e.g. `http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    project_id: String,
    token: String,
}

impl Client {
    pub fn new(base_url: &str, project_id: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            project_id: project_id.to_owned(),
            token: token.to_owned(),
        }
    }

    fn url(&self, version: &str, path: &str) -> String {
        format!("{}/{version}/{}{path}", self.base_url, self.project_id)
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let response =
            request.header("X-Auth-Token", &self.token).header("Accept", "application/json").send().await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ClientError::Api { status: status.as_u16(), body });
        }
        Ok(response.json().await?)
    }

    /// `POST /v2/{project_id}/backuppolicy`.
    pub async fn create_policy(&self, body: &CreatePolicyRequest) -> Result<PolicyIdResponse, ClientError> {
        self.send(self.http.post(self.url("v2", "/backuppolicy")).json(body)).await
    }

    /// `PUT /v2/{project_id}/backuppolicy/{policy_id}`.
    pub async fn update_policy(
        &self,
        policy_id: &str,
        body: &UpdatePolicyRequest,
    ) -> Result<PolicyIdResponse, ClientError> {
        self.send(self.http.put(self.url("v2", &format!("/backuppolicy/{policy_id}"))).json(body)).await
    }

    /// `GET /v2/{project_id}/backuppolicy`.
    pub async fn list_policies(&self) -> Result<PolicyListResponse, ClientError> {
        self.send(self.http.get(self.url("v2", "/backuppolicy"))).await
    }

    /// `GET /v2/{project_id}/backuppolicy/{policy_id}/backuptasks`.
    pub async fn list_tasks(
        &self,
        policy_id: &str,
        query: &TaskQuery,
    ) -> Result<TaskListResponse, ClientError> {
        let url = self.url("v2", &format!("/backuppolicy/{policy_id}/backuptasks"));
        self.send(self.http.get(url).query(query)).await
    }

    /// `POST /v2/{project_id}/backups` (native, Cinder style; answers 202).
    pub async fn create_backup(
        &self,
        body: &CreateNativeBackupRequest,
    ) -> Result<BackupCreatedResponse, ClientError> {
        self.send(self.http.post(self.url("v2", "/backups")).json(body)).await
    }

    /// `GET /v3/{project_id}/native/backups/{backup_id}`.
    pub async fn show_backup(&self, backup_id: &str) -> Result<BackupDetailResponse, ClientError> {
        self.send(self.http.get(self.url("v3", &format!("/native/backups/{backup_id}")))).await
    }
}
