//! A service's OpenAPI document: generated from its handlers' annotations (utoipa), committed
//! under `openapi/` (a test in each service fails when the committed file differs), and served
//! by the service itself at its document path with Swagger UI at `/docs/`.

use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// A service's document and where the service serves it.
#[derive(Clone)]
pub struct Document {
    /// e.g. `/openapi/policy-service.json`.
    pub path: &'static str,
    pub api: OpenApi,
}

impl Document {
    pub fn new(path: &'static str, api: OpenApi) -> Self {
        Self { path, api }
    }

    /// The document as committed: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        committed_json(&self.api)
    }

    /// Swagger UI at `/docs/`, reading the document from its path.
    pub fn swagger_ui(&self) -> SwaggerUi {
        SwaggerUi::new("/docs/{_:.*}").url(self.path, self.api.clone())
    }
}

/// Pretty JSON with a trailing newline: the form of the files under `openapi/`.
pub fn committed_json(api: &OpenApi) -> String {
    let mut json = api.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
