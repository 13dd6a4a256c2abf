//! What every service's OpenAPI document shares: the `X-Auth-Token` security scheme, and the
//! 401 / 403 answers of every operation that requires it (in the envelope of that operation's
//! API), so that generated clients parse refusals instead of treating them as unexpected.

use utoipa::{
    IntoResponses, Modify,
    openapi::{
        ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

/// Adds the token scheme and the refusals. `refusal_schema` names the component schema of the
/// error body for an operation's path (the VBS `error` envelope or the Cinder fault).
pub struct TokenAuth {
    pub refusal_schema: fn(&str) -> &'static str,
}

impl TokenAuth {
    /// Every operation refuses in the VBS `{"error":{code,message}}` envelope.
    pub const VBS: Self = Self { refusal_schema: |_| "ErrorEnvelope" };
}

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A Keystone token (VBS_AUTH_STRATEGY=keystone), or one minted by `vbsctl token --project <id> --role <role>` (local)",
            ))),
        );
        for (path, item) in &mut openapi.paths.paths {
            let schema = (self.refusal_schema)(path);
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.as_ref().is_none_or(Vec::is_empty) {
                    continue;
                }
                for (status, description) in [
                    ("401", "Missing, malformed or expired token"),
                    ("403", "The token does not cover this project"),
                ] {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build(),
                                )
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

/// The answers every authenticated operation of the VBS (`AutoBackup`) API may give before it
/// looks at the request, with the vendor's codes (used as `responses(AuthErrors, …)`).
#[derive(IntoResponses)]
#[allow(dead_code, reason = "only describes responses for the OpenAPI document")]
pub enum AuthErrors {
    /// Missing (AutoBackup.0002), expired (AutoBackup.0003) or invalid (AutoBackup.0005) token
    #[response(status = 401)]
    Unauthorized(crate::error::ErrorEnvelope),
    /// The token does not grant the path's project (AutoBackup.0213)
    #[response(status = 403)]
    Forbidden(crate::error::ErrorEnvelope),
}
