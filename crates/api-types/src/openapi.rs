//! What every service's OpenAPI document shares: the `X-Auth-Token` security scheme, and the
//! answers any operation may give besides its own (refusals of the token, invalid input, a body
//! too large or not JSON, an internal error, a dependency down), each in the envelope of that
//! operation's API, so that generated clients and fuzzers know every status they can meet.

use utoipa::{
    IntoResponses, Modify,
    openapi::{
        Components, ContentBuilder, OpenApi, PathItem, Ref, RefOr, ResponseBuilder,
        path::Operation,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

/// Adds the token scheme and the common answers to every operation (an operation's own
/// description of a status is kept). `error_schema` names the component schema of the error
/// body for an operation's path (the VBS `error` envelope or the Cinder fault).
pub struct CommonAnswers {
    pub error_schema: fn(&str) -> &'static str,
}

impl CommonAnswers {
    /// Every operation answers errors in the VBS `{"error":{code,message}}` envelope.
    pub const VBS: Self = Self { error_schema: |_| "ErrorEnvelope" };
}

impl Modify for CommonAnswers {
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
            let schema = (self.error_schema)(path);
            for operation in operations(item).into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = operation.request_body.is_some();
                let answers = [
                    (
                        has_input || has_body,
                        "400",
                        "Invalid path, query or body; the message names the parameter or field",
                    ),
                    (secured, "401", "Missing, malformed or expired token"),
                    (secured, "403", "The token does not cover this project, or its role may not do this"),
                    (has_body, "413", "The request body is too large"),
                    (has_body, "415", "The body's Content-Type is not JSON"),
                    (true, "500", "Internal error (logged, never detailed)"),
                    (true, "503", "A dependency is unavailable (the database, Keystone); try again"),
                ];
                for (status, description) in
                    answers.into_iter().filter_map(|(applies, s, d)| applies.then_some((s, d)))
                {
                    add_answer(components, operation, status, description, schema);
                }
            }
        }
    }
}

/// Adds `status` to `operation`'s responses, unless the operation describes that status itself:
/// a reference to the shared response `{schema}{status}` (e.g. `ErrorEnvelope500`), an error
/// body of `schema`, added to `components` on first use.
pub fn add_answer(
    components: &mut Components,
    operation: &mut Operation,
    status: &str,
    description: &str,
    schema: &str,
) {
    if operation.responses.responses.contains_key(status) {
        return;
    }
    let name = format!("{schema}{status}");
    components.responses.entry(name.clone()).or_insert_with(|| {
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
    operation.responses.responses.insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
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

/// A project id as paths carry it: 1–64 of `[A-Za-z0-9_-]` (`ProjectId`).
pub const PROJECT_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// A UUID in the spellings `ResourceId::parse` accepts: hyphenated or simple, either case.
pub const UUID_PATTERN: &str = "^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$";
/// A policy tag key (`TagKey`).
pub const TAG_KEY_PATTERN: &str = "^[A-Za-z0-9_-]{1,36}$";

/// Writes the rules the handlers enforce on path and query identifiers into every operation's
/// parameters, by name, so that no handler annotation can forget them: `project_id` is a
/// project id, every other `…_id` and `marker` is a UUID, a path `key` is a tag key. A parameter
/// whose schema already has a pattern keeps it.
pub struct IdConstraints;

impl Modify for IdConstraints {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::{
            KnownFormat, Schema, SchemaFormat,
            path::{Parameter, ParameterIn},
        };
        fn constrain(p: &mut Parameter) {
            let (pattern, lengths, uuid) = match (p.name.as_str(), &p.parameter_in) {
                ("project_id", _) => (PROJECT_ID_PATTERN, Some((1, 64)), false),
                ("key", ParameterIn::Path) => (TAG_KEY_PATTERN, Some((1, 36)), false),
                (name, ParameterIn::Path | ParameterIn::Query)
                    if name.ends_with("_id") || name == "marker" =>
                {
                    (UUID_PATTERN, None, true)
                }
                _ => return,
            };
            let Some(RefOr::T(Schema::Object(schema))) = p.schema.as_mut() else { return };
            if schema.pattern.is_some() {
                return;
            }
            schema.pattern = Some(pattern.to_owned());
            if let Some((min, max)) = lengths {
                schema.min_length = Some(min);
                schema.max_length = Some(max);
            }
            if uuid {
                schema.format = Some(SchemaFormat::KnownFormat(KnownFormat::Uuid));
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item).into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(p) = parameter {
                        constrain(p);
                    }
                }
            }
        }
    }
}

/// Describes the same operations again under the other prefixes the router serves them at, so
/// that a client generated from the document may call any of them. Each documented path that
/// starts with one of `prefixes` is copied under every other prefix where no path is documented
/// yet (an operation at a time); the copy's operation ids get the suffix of its prefix, made of
/// the prefix's fixed segments but the last (`showNativeBackup` at
/// `/v3/{project_id}/native/backups` → `showNativeBackupV3Native`), as operation ids must be
/// unique in a document. `exact` pairs alias one path to another (`/v2` → `/v2/`).
pub struct PathAliases {
    /// e.g. `/v2/{project_id}/backups`, `/v3/{project_id}/native/backups`.
    pub prefixes: &'static [&'static str],
    /// `(documented path, alias, operation id suffix)`.
    pub exact: &'static [(&'static str, &'static str, &'static str)],
}

/// `V3Native` for `/v3/{project_id}/native/backups`.
fn alias_suffix(prefix: &str) -> String {
    let fixed: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).collect();
    let mut suffix = String::new();
    for segment in &fixed[..fixed.len().saturating_sub(1)] {
        let mut chars = segment.chars();
        if let Some(first) = chars.next() {
            suffix.extend(first.to_uppercase());
            suffix.push_str(chars.as_str());
        }
    }
    suffix
}

impl Modify for PathAliases {
    fn modify(&self, openapi: &mut OpenApi) {
        let documented: Vec<(String, PathItem)> =
            openapi.paths.paths.iter().map(|(path, item)| (path.clone(), item.clone())).collect();
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (path, _) in &documented {
            if let Some(rest) = self.prefixes.iter().find_map(|prefix| strip_segment_prefix(path, prefix)) {
                for prefix in self.prefixes {
                    let alias = format!("{prefix}{rest}");
                    if alias != *path {
                        wanted.push((path.clone(), alias, alias_suffix(prefix)));
                    }
                }
            }
        }
        for (path, alias, suffix) in self.exact {
            wanted.push(((*path).to_owned(), (*alias).to_owned(), (*suffix).to_owned()));
        }
        for (path, alias, suffix) in wanted {
            let Some((_, item)) = documented.iter().find(|(p, _)| *p == path) else { continue };
            let target = openapi.paths.paths.entry(alias).or_insert_with(|| {
                let mut empty = item.clone();
                for slot in operations(&mut empty) {
                    *slot = None;
                }
                empty
            });
            let mut source = item.clone();
            for (slot, operation) in operations(target).into_iter().zip(operations(&mut source)) {
                if slot.is_some() {
                    continue;
                }
                if let Some(mut operation) = operation.take() {
                    if let Some(id) = &mut operation.operation_id {
                        id.push_str(&suffix);
                    }
                    *slot = Some(operation);
                }
            }
        }
    }
}

/// A path item's operation slots, always in the same order.
pub fn operations(item: &mut PathItem) -> [&mut Option<Operation>; 8] {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
}

/// `path` without `prefix`, if `prefix` is a whole-segment prefix of it.
fn strip_segment_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}
