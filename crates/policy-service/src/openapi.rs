//! The OpenAPI document, generated from the handlers' annotations. `make openapi` writes it to
//! `openapi/policy-service.json`; a test fails when the committed file differs. The service
//! serves it at `/openapi/policy-service.json` with Swagger UI at `/docs/`.

use api_types::openapi::{CommonAnswers, IdConstraints, PathAliases};
use api_types::{dto, error};
use service_kit::openapi::Document;
use utoipa::OpenApi;

use crate::routes::{policies, resources, tags, versions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VBS policy service",
        description = "Backup policies of the Volume Backup Service: schedules, retention, tags and the volumes they protect. Wire-compatible with the VBS API of Huawei Cloud / Open Telekom Cloud.",
        license(name = "Apache-2.0")
    ),
    paths(
        versions::root,
        versions::v2,
        versions::v3,
        policies::create::create_policy,
        policies::list::list_policies,
        policies::update::update_policy,
        policies::delete::delete_policy,
        policies::execute::execute_policy,
        resources::associate::associate_resources,
        resources::disassociate::disassociate_resources,
        tags::add::add_tag,
        tags::list::list_tags,
        tags::delete::delete_tag,
        tags::batch::batch_tags,
        tags::project::list_project_tags,
        tags::query::query_policies_by_tags,
    ),
    components(schemas(error::ErrorEnvelope, error::ErrorBody, dto::TagInput, dto::TagFilter, dto::MatchInput)),
    modifiers(&COMMON_ANSWERS, &VERSION_ALIASES, &IdConstraints),
    tags(
        (name = "Backup policies", description = "Create, modify, list, delete and execute policies"),
        (name = "Backup policy resources", description = "The volumes a policy backs up"),
        (name = "Backup policy tags", description = "Tags on policies and queries by tag"),
        (name = "Versions", description = "OpenStack version discovery"),
    )
)]
pub struct ApiDoc;

const COMMON_ANSWERS: CommonAnswers = CommonAnswers::VBS;

/// The version documents are also served with a trailing slash (`routes::configure`).
const VERSION_ALIASES: PathAliases =
    PathAliases { prefixes: &[], exact: &[("/v2", "/v2/", "Slash"), ("/v3", "/v3/", "Slash")] };

pub const DOCUMENT_PATH: &str = "/openapi/policy-service.json";

pub fn document() -> Document {
    Document::new(DOCUMENT_PATH, ApiDoc::openapi())
}
