//! The volumes named in an associate or disassociate request.
//!
//! The vendor answers per resource: a request with some bad entries still applies the good
//! ones and lists the others in `fail_resources` with a code. Only a request with no usable
//! list at all is refused as a whole.

use std::collections::BTreeSet;

use api_types::{
    domain::{ResourceId, ValidationError},
    dto::{ResourceInput, ResourceResult},
    error::codes::auto_backup as ab,
};

/// The most resources one request may name.
pub const MAX_RESOURCES_PER_REQUEST: usize = 200;

pub const VOLUME: &str = "volume";

#[derive(Debug, Default)]
pub struct ParsedResources {
    /// Distinct volume ids, in request order.
    pub volumes: Vec<ResourceId>,
    pub failed: Vec<ResourceResult>,
}

/// Splits the request's resources into usable volume ids and failures. On disassociate the
/// type may be omitted (otcextensions sends it, the vendor's page does not).
pub fn parse(
    input: Option<&[ResourceInput]>,
    type_required: bool,
) -> Result<ParsedResources, ValidationError> {
    let input = match input {
        Some(list) if !list.is_empty() => list,
        _ => {
            return Err(ValidationError::new("resources", "must list at least one resource")
                .with_code(ab::RESOURCE_EMPTY));
        }
    };
    if input.len() > MAX_RESOURCES_PER_REQUEST {
        return Err(ValidationError::new(
            "resources",
            format!("at most {MAX_RESOURCES_PER_REQUEST} resources per request, got {}", input.len()),
        )
        .with_code(ab::VOLUME_LIMIT));
    }
    let mut parsed = ParsedResources::default();
    for r in input {
        let raw_id = r.resource_id.clone().unwrap_or_default();
        let raw_type = r.resource_type.clone().unwrap_or_default();
        let fail = |code: &str, message: String| ResourceResult {
            resource_id: raw_id.clone(),
            resource_type: raw_type.clone(),
            code: Some(code.to_owned()),
            message: Some(message),
            availability_zone: None,
            os_vol_host_attr: None,
        };
        if raw_id.is_empty() {
            parsed.failed.push(fail(ab::RESOURCE_ID_EMPTY, "resource_id is empty".into()));
            continue;
        }
        match r.resource_type.as_deref() {
            Some(VOLUME) => {}
            None if !type_required => {}
            None => {
                parsed
                    .failed
                    .push(fail(ab::RESOURCE_TYPE_INVALID, "resource_type is required (\"volume\")".into()));
                continue;
            }
            Some(other) => {
                parsed.failed.push(fail(
                    ab::RESOURCE_TYPE_INVALID,
                    format!("resource_type {other:?} is not supported; only \"volume\" is"),
                ));
                continue;
            }
        }
        match ResourceId::parse("resource_id", &raw_id) {
            Ok(id) if !parsed.volumes.contains(&id) => parsed.volumes.push(id),
            Ok(_) => {}
            Err(e) => parsed.failed.push(fail(ab::RESOURCE_INVALID, e.message)),
        }
    }
    Ok(parsed)
}

/// What associating volumes with a policy comes to, before anything is written.
#[derive(Debug, Default)]
pub struct Association {
    pub success: Vec<ResourceResult>,
    pub fail: Vec<ResourceResult>,
    /// The volumes to attach to the policy.
    pub to_attach: Vec<ResourceId>,
    /// The other policies those volumes move away from.
    pub previous_owners: BTreeSet<ResourceId>,
}

/// Decides, volume by volume, what associating `parsed` with policy `target` does, given each
/// volume's current owner (`owners`: `(volume, policy)`). A volume the policy already has
/// succeeds as it is; another is attached (moving from its owner, if it has one) while the
/// policy has `room` for it, and fails once the policy holds `max_volumes`.
pub fn plan_association(
    parsed: ParsedResources,
    owners: &[(ResourceId, ResourceId)],
    target: ResourceId,
    mut room: i64,
    max_volumes: i64,
) -> Association {
    let mut plan = Association { fail: parsed.failed, ..Association::default() };
    for volume in parsed.volumes {
        let owner = owners.iter().find(|(v, _)| *v == volume).map(|&(_, policy)| policy);
        if owner == Some(target) {
            plan.success.push(succeeded(volume));
            continue;
        }
        if room <= 0 {
            plan.fail.push(failed(
                volume,
                ab::VOLUME_LIMIT,
                format!("the policy already has {max_volumes} volumes, the most allowed"),
            ));
            continue;
        }
        room -= 1;
        plan.previous_owners.extend(owner);
        plan.to_attach.push(volume);
        plan.success.push(succeeded(volume));
    }
    plan
}

pub fn succeeded(volume: ResourceId) -> ResourceResult {
    ResourceResult {
        resource_id: volume.to_string(),
        resource_type: VOLUME.to_owned(),
        code: None,
        message: None,
        availability_zone: None,
        os_vol_host_attr: None,
    }
}

pub fn failed(volume: ResourceId, code: &str, message: impl Into<String>) -> ResourceResult {
    ResourceResult {
        resource_id: volume.to_string(),
        resource_type: VOLUME.to_owned(),
        code: Some(code.to_owned()),
        message: Some(message.into()),
        availability_zone: None,
        os_vol_host_attr: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, ty: Option<&str>) -> ResourceInput {
        ResourceInput { resource_id: Some(id.into()), resource_type: ty.map(Into::into) }
    }

    #[test]
    fn splits_good_and_bad() {
        let good = "bce8d47a-cfd7-4e4b-9a6b-4a7f0a4b1e11";
        let list = vec![
            input(good, Some("volume")),
            input(&good.to_uppercase(), Some("volume")),
            input("not-a-uuid", Some("volume")),
            input(good, Some("server")),
            input("", Some("volume")),
            input(good, None),
        ];
        let p = parse(Some(&list), true).unwrap();
        assert_eq!(p.volumes.len(), 1);
        let codes: Vec<_> = p.failed.iter().map(|f| f.code.clone().unwrap()).collect();
        assert_eq!(codes, ["AutoBackup.1400", "AutoBackup.0211", "AutoBackup.0209", "AutoBackup.0211"]);
        assert_eq!(parse(Some(&list), false).unwrap().failed.len(), 3);
    }

    #[test]
    fn empty_or_huge_lists_are_refused() {
        assert_eq!(parse(None, true).unwrap_err().code, Some("AutoBackup.0207"));
        assert_eq!(parse(Some(&[]), true).unwrap_err().code, Some("AutoBackup.0207"));
        let many: Vec<_> = (0..201).map(|_| input(&uuid_like(), Some("volume"))).collect();
        assert_eq!(parse(Some(&many), true).unwrap_err().code, Some("AutoBackup.0204"));
    }

    fn uuid_like() -> String {
        ResourceId::new_v4().to_string()
    }
}
