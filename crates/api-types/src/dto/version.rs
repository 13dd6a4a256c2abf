//! OpenStack version discovery documents (`GET /`, `GET /v2`, `GET /v3`), so that keystoneauth /
//! openstacksdk endpoint discovery works against the service.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionLink {
    pub href: String,
    pub rel: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MediaType {
    pub base: String,
    #[serde(rename = "type")]
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiVersion {
    /// `v2.0` or `v3.0`.
    pub id: String,
    /// `CURRENT`, `SUPPORTED` or `DEPRECATED`.
    pub status: String,
    pub updated: String,
    pub links: Vec<VersionLink>,
    #[serde(rename = "media-types")]
    pub media_types: Vec<MediaType>,
    /// Highest microversion (empty when the API has none).
    pub version: String,
    pub min_version: String,
}

/// `GET /v2` and `GET /v3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionDocument {
    pub version: ApiVersion,
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<ApiVersion>,
}

/// The microversions of the v3 volume API this deployment serves (`OpenStack-API-Version:
/// volume 3.x`): from Cinder's base to 3.64, what openstacksdk negotiates.
pub const MIN_MICROVERSION: (u16, u16) = (3, 0);
pub const MAX_MICROVERSION: (u16, u16) = (3, 64);

impl ApiVersion {
    /// The document for `v2` or `v3` with links under `base_url` (no trailing slash).
    pub fn describe(major: u8, base_url: &str) -> Self {
        let micro = |(major, minor): (u16, u16)| format!("{major}.{minor}");
        let (status, version, min_version) = match major {
            2 => ("SUPPORTED", String::new(), String::new()),
            _ => ("CURRENT", micro(MAX_MICROVERSION), micro(MIN_MICROVERSION)),
        };
        Self {
            id: format!("v{major}.0"),
            status: status.to_owned(),
            updated: "2026-11-01T00:00:00Z".to_owned(),
            links: vec![VersionLink { href: format!("{base_url}/v{major}/"), rel: "self".to_owned() }],
            media_types: vec![MediaType {
                base: "application/json".to_owned(),
                media_type: format!("application/vnd.openstack.volume+json;version={major}"),
            }],
            version,
            min_version,
        }
    }
}
