//! The OpenAPI document, generated from the handler's annotations. `make openapi` writes it to
//! `openapi/task-scheduler.json`; a test fails when the committed file differs. The service
//! serves it at `/openapi/task-scheduler.json` with Swagger UI at `/docs/`.

use api_types::openapi::{CommonAnswers, IdConstraints};
use api_types::{dto, error};
use service_kit::openapi::Document;
use utoipa::OpenApi;

use crate::routes::tasks;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VBS task scheduler",
        description = "The backup tasks that backup policies trigger, as the Volume Backup Service of Huawei Cloud / Open Telekom Cloud reports them.",
        license(name = "Apache-2.0")
    ),
    paths(tasks::list::list_tasks),
    components(schemas(error::ErrorEnvelope, error::ErrorBody, dto::SortDir, dto::SortKey)),
    modifiers(&COMMON_ANSWERS, &IdConstraints),
    tags((name = "Backup tasks", description = "The tasks a policy's schedule (or an execute request) created"))
)]
pub struct ApiDoc;

const COMMON_ANSWERS: CommonAnswers = CommonAnswers::VBS;

pub const DOCUMENT_PATH: &str = "/openapi/task-scheduler.json";

pub fn document() -> Document {
    Document::new(DOCUMENT_PATH, ApiDoc::openapi())
}
