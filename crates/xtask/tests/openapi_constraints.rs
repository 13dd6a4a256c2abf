#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

//! The committed gateway document (`openapi/vbs.json`, drift-checked against the code) states
//! the rules the services enforce, so that generated clients validate and a fuzzer generates
//! valid requests. Each field's schema is compiled with a JSON Schema validator and compared with
//! the parser the service really uses (`api_types::domain`): on hand-picked edge cases and on
//! generated strings, the schema accepts exactly what the parser accepts. Whole sample requests
//! (valid and broken) are checked against the request body schemas.

use api_types::domain::{
    BackupDescription, BackupName, PolicyName, ProjectId, ResourceId, StartTimes, TagKey, TagValue,
    TimeZoneOffset, WeekDays,
};
use jsonschema::{Draft, Validator};
use proptest::prelude::*;
use serde_json::{Value, json};

fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(service_kit::testing::repo_file("openapi/vbs.json"))
            .expect("openapi/vbs.json");
        serde_json::from_str(&text).unwrap()
    })
}

/// A validator for the schema at `pointer` in the document; `$ref`s to components resolve.
fn validator(pointer: &str) -> Validator {
    let doc = document();
    let mut root = doc.pointer(pointer).unwrap_or_else(|| panic!("no schema at {pointer}")).clone();
    root["components"] = doc["components"].clone();
    jsonschema::options().with_draft(Draft::Draft202012).build(&root).unwrap()
}

fn property(schema: &str, path: &str) -> Validator {
    let pointer = format!("/components/schemas/{schema}/properties/{}", path.replace('.', "/properties/"));
    validator(&pointer)
}

/// The schema of parameter `name` of operation `method path` (`~1` escapes `/` in pointers).
fn parameter(path: &str, method: &str, name: &str) -> Validator {
    let doc = document();
    let escaped = path.replace('~', "~0").replace('/', "~1");
    let params = doc
        .pointer(&format!("/paths/{escaped}/{method}/parameters"))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{method} {path} has no parameters"));
    let index = params.iter().position(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"));
    validator(&format!("/paths/{escaped}/{method}/parameters/{index}/schema"))
}

/// The schema and the parser agree on every case.
fn agree(v: &Validator, cases: &[String], parses: impl Fn(&str) -> bool, what: &str) {
    for case in cases {
        assert_eq!(
            v.is_valid(&json!(case)),
            parses(case),
            "{what}: the schema and the parser disagree on {case:?}"
        );
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Near misses around the name charset and lengths.
fn name_cases(reserved: &str) -> Vec<String> {
    let mut cases = strings(&[
        "a",
        "A-b_9",
        "policy_01",
        "has space",
        "dot.name",
        "ünï",
        "semi;colon",
        "",
        "<b>",
        "a/b",
        "../x",
    ]);
    cases.extend([
        reserved.to_owned(),
        format!("{reserved}_x"),
        format!("x{reserved}"),
        reserved.to_uppercase(),
        "a".repeat(64),
        "a".repeat(65),
    ]);
    cases
}

#[test]
fn policy_names_match_the_parser() {
    for schema in ["CreatePolicyRequest", "UpdatePolicyRequest"] {
        let v = property(schema, "backup_policy_name");
        agree(&v, &name_cases("default"), |s| PolicyName::parse(s).is_ok(), schema);
    }
}

#[test]
fn backup_names_match_the_parser() {
    for schema in ["NativeBackupInput", "CloudBackupInput"] {
        let v = property(schema, "name");
        agree(&v, &name_cases("auto"), |s| BackupName::parse(s).is_ok(), schema);
    }
}

#[test]
fn descriptions_match_the_parser_with_each_api_limit() {
    let mut cases = strings(&["", "nightly", "a <b>", "x>y", "ünïcødé"]);
    for n in [63, 64, 65, 254, 255, 256] {
        cases.push("d".repeat(n));
    }
    let native = property("NativeBackupInput", "description");
    agree(
        &native,
        &cases,
        |s| BackupDescription::parse(s, BackupDescription::NATIVE_MAX_LEN).is_ok(),
        "native",
    );
    let vbs = property("CloudBackupInput", "description");
    agree(&vbs, &cases, |s| BackupDescription::parse(s, BackupDescription::VBS_MAX_LEN).is_ok(), "cloud");
}

#[test]
fn policy_tags_match_the_parser() {
    let mut cases = strings(&["", "k", "a b", "a=b", "v.1", "ünï", "team-db_1"]);
    for n in [35, 36, 37, 42, 43, 44] {
        cases.push("k".repeat(n));
    }
    agree(&property("TagInput", "key"), &cases, |s| TagKey::parse(s).is_ok(), "tag key");
    agree(&property("TagInput", "value"), &cases, |s| TagValue::parse(s).is_ok(), "tag value");
}

#[test]
fn time_zones_match_the_parser() {
    let cases = strings(&[
        "UTC+08:00",
        "UTC-02:00",
        "UTC+00:00",
        "UTC-00:00",
        "UTC+14:00",
        "UTC+14:01",
        "UTC-12:00",
        "UTC-12:30",
        "UTC+13:59",
        "UTC+05:60",
        "UTC+8",
        "UTC+08",
        "UTC08:00",
        "GMT+08:00",
        "utc+08:00",
        "UTC+08:00 ",
        "",
        "UTC+99:00",
    ]);
    for schema in ["CreatePolicyRequest", "UpdatePolicyRequest"] {
        agree(&property(schema, "time_zone"), &cases, |s| TimeZoneOffset::parse(s).is_ok(), schema);
    }
}

#[test]
fn start_times_match_the_parser_but_for_duplicates() {
    let v = property("ScheduledPolicyInput", "start_time");
    let mut cases = strings(&[
        "12:00",
        "00:00",
        "23:00",
        "24:00",
        "12:30",
        "1:00",
        "12:00,13:00",
        "22:00, 00:00 ,02:00",
        "12:00,",
        "",
        "noon",
        "12:00;13:00",
        " 03:00",
    ]);
    let all: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
    cases.push(all.join(","));
    agree(&v, &cases, |s| StartTimes::parse(s).is_ok(), "start_time");
    // JSON Schema cannot say "no hour twice": the parser alone refuses it.
    assert!(v.is_valid(&json!("12:00,12:00")) && StartTimes::parse("12:00,12:00").is_err());
}

#[test]
fn week_days_and_flags_are_enums() {
    let days = property("ScheduledPolicyInput", "week_frequency");
    for case in [json!(["MON"]), json!(["SUN", "SAT"]), json!(["mon"]), json!([]), json!(["MON", "FUNDAY"])] {
        let list: Vec<String> = serde_json::from_value(case.clone()).unwrap();
        assert_eq!(days.is_valid(&case), WeekDays::parse(&list).is_ok(), "{case}");
    }
    let flag = property("ScheduledPolicyInput", "remain_first_backup_of_curMonth");
    assert!(flag.is_valid(&json!("Y")) && flag.is_valid(&json!("N")) && !flag.is_valid(&json!("y")));
    let status = property("ScheduledPolicyInput", "status");
    assert!(
        status.is_valid(&json!("ON")) && status.is_valid(&json!("OFF")) && !status.is_valid(&json!("on"))
    );
}

#[test]
fn numeric_ranges_are_stated() {
    for (field, lo, hi) in [("frequency", 1, 14), ("rentention_num", 2, 14), ("rentention_day", 2, 99_999)] {
        let v = property("ScheduledPolicyInput", field);
        assert!(v.is_valid(&json!(lo)) && v.is_valid(&json!(hi)), "{field}");
        assert!(!v.is_valid(&json!(lo - 1)) && !v.is_valid(&json!(hi + 1)), "{field}");
    }
    let limit = parameter("/v2/{project_id}/backups/detail", "get", "limit");
    assert!(limit.is_valid(&json!(0)) && limit.is_valid(&json!(1000)));
    assert!(!limit.is_valid(&json!(-1)) && !limit.is_valid(&json!(1001)));
    let query_limit = property("ResourceInstancesRequest", "limit");
    for (value, ok) in
        [("1", true), ("10", true), ("1000", true), ("0", false), ("1001", false), ("ten", false)]
    {
        assert_eq!(query_limit.is_valid(&json!(value)), ok, "limit {value:?}");
    }
}

#[test]
fn sort_and_action_enums_are_stated() {
    for path in ["/v2/{project_id}/backups", "/v3/{project_id}/native/backups/detail"] {
        let dir = parameter(path, "get", "sort_dir");
        assert!(dir.is_valid(&json!("asc")) && dir.is_valid(&json!("desc")) && !dir.is_valid(&json!("up")));
        let key = parameter(path, "get", "sort_key");
        assert!(key.is_valid(&json!("created_at")) && key.is_valid(&json!("size")));
        assert!(!key.is_valid(&json!("volume_id")));
    }
    let batch = property("TagBatchRequest", "action");
    assert!(batch.is_valid(&json!("delete")) && !batch.is_valid(&json!("remove")));
    let query = property("ResourceInstancesRequest", "action");
    assert!(query.is_valid(&json!("count")) && !query.is_valid(&json!("sum")));
}

#[test]
fn path_ids_match_the_parsers() {
    let uuid = uuid::Uuid::new_v4();
    let cases = vec![
        uuid.to_string(),
        uuid.simple().to_string(),
        uuid.to_string().to_uppercase(),
        "not-a-uuid".to_owned(),
        "../../etc/passwd".to_owned(),
        String::new(),
        format!("{uuid}0"),
    ];
    for (path, method, name) in [
        ("/v2/{project_id}/backups/{backup_id}", "get", "backup_id"),
        ("/v3/{project_id}/native/backups/{backup_id}/restore", "post", "backup_id"),
        ("/v2/{project_id}/backuppolicy/{policy_id}", "put", "policy_id"),
        ("/v2/{project_id}/backuppolicy/{policy_id}/backuptasks", "get", "policy_id"),
        ("/v2/{project_id}/jobs/{job_id}", "get", "job_id"),
        ("/v2/{project_id}/backups", "get", "marker"),
    ] {
        let v = parameter(path, method, name);
        agree(&v, &cases, |s| ResourceId::parse("id", s).is_ok(), &format!("{method} {path} {name}"));
    }
    let project = parameter("/v2/{project_id}/backuppolicy", "post", "project_id");
    let mut cases = strings(&["c0ffee00c0ffee00c0ffee00c0ffee00", "my-project_1", "", "a/b", "a.b", "ünï"]);
    cases.extend(["p".repeat(64), "p".repeat(65)]);
    agree(&project, &cases, |s| ProjectId::parse(s).is_ok(), "project_id");
}

#[test]
fn sample_requests_validate_against_the_body_schemas() {
    let create = validator("/components/schemas/CreatePolicyRequest");
    let good = json!({
        "backup_policy_name": "policy_01",
        "scheduled_policy": {"remain_first_backup_of_curMonth": "Y", "rentention_day": 30,
            "week_frequency": ["SUN", "WED"], "start_time": "12:00", "status": "ON"},
        "tags": [{"key": "key", "value": "value"}],
        "time_zone": "UTC+08:00"
    });
    assert!(
        create.is_valid(&good),
        "{:?}",
        create.iter_errors(&good).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let too_many_tags: Vec<Value> = (0..11).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect();
    for (pointer, bad) in [
        ("/backup_policy_name", json!("default_x")),
        ("/scheduled_policy/start_time", json!("12:30")),
        ("/scheduled_policy/rentention_day", json!(1)),
        ("/scheduled_policy/status", json!("MAYBE")),
        ("/time_zone", json!("CET")),
        ("/tags", json!(too_many_tags)),
        ("/tags/0/key", json!("no spaces")),
    ] {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(!create.is_valid(&body), "{pointer} = {bad} should not validate");
    }
    let native = validator("/components/schemas/CreateNativeBackupRequest");
    let backup = json!({"backup": {"volume_id": "c68ae7fb-0aa5-4a97-ab01-ed02c5b7e768", "name": "backup1"}});
    assert!(native.is_valid(&backup));
    assert!(!native.is_valid(&json!({"backup": {"volume_id": "vol-1", "name": "backup1"}})));
    assert!(!native.is_valid(
        &json!({"backup": {"volume_id": "c68ae7fb-0aa5-4a97-ab01-ed02c5b7e768", "name": "autobk_1"}})
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_policy_names_agree(s in "(default)?[A-Za-z0-9_. -]{0,66}") {
        let v = property("CreatePolicyRequest", "backup_policy_name");
        prop_assert_eq!(v.is_valid(&json!(s)), PolicyName::parse(&s).is_ok());
    }

    #[test]
    fn generated_backup_names_agree(s in "(auto)?[A-Za-z0-9_. <-]{0,66}") {
        let v = property("NativeBackupInput", "name");
        prop_assert_eq!(v.is_valid(&json!(s)), BackupName::parse(&s).is_ok());
    }

    #[test]
    fn generated_time_zones_agree(s in "UTC[+-][0-9]{1,3}:[0-9]{2}") {
        let v = property("CreatePolicyRequest", "time_zone");
        prop_assert_eq!(v.is_valid(&json!(s)), TimeZoneOffset::parse(&s).is_ok());
    }

    #[test]
    fn generated_start_times_agree(hours in proptest::collection::vec(0u8..30, 1..5), minutes in "00|30") {
        let s = hours.iter().map(|h| format!("{h:02}:{minutes}")).collect::<Vec<_>>().join(",");
        let distinct = hours.iter().collect::<std::collections::HashSet<_>>().len() == hours.len();
        let v = property("ScheduledPolicyInput", "start_time");
        // Duplicates aside (see start_times_match_the_parser_but_for_duplicates).
        prop_assume!(distinct);
        prop_assert_eq!(v.is_valid(&json!(s)), StartTimes::parse(&s).is_ok());
    }
}

/// Clients call the native API under any of its prefixes and the jobs under `/v1` and `/v2`:
/// every operation is described under each, with operation ids unique in the document.
#[test]
fn every_alias_the_router_serves_is_described() {
    let paths = document()["paths"].as_object().unwrap();
    let mut native = 0;
    for (path, item) in paths {
        let Some(rest) = backup_service::routes::NATIVE_PREFIXES
            .iter()
            .find_map(|p| path.strip_prefix(p).filter(|r| r.is_empty() || r.starts_with('/')))
        else {
            continue;
        };
        native += 1;
        for prefix in backup_service::routes::NATIVE_PREFIXES {
            let alias =
                &paths.get(&format!("{prefix}{rest}")).unwrap_or_else(|| panic!("{prefix}{rest} missing"));
            let methods = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(methods(alias), methods(item), "{prefix}{rest} and {path}");
        }
    }
    assert!(native >= 3 * 4, "only {native} native paths");
    for prefix in backup_service::openapi::JOB_PREFIXES {
        assert!(paths.contains_key(&format!("{prefix}/{{job_id}}")), "{prefix}/{{job_id}}");
    }
    for path in ["/v2", "/v2/", "/v3", "/v3/"] {
        assert!(paths.contains_key(path), "{path}");
    }
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "operation ids repeat");
}
