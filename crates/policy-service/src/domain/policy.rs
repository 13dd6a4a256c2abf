use api_types::{
    domain::{
        Frequency, PolicyName, PolicyStatus, Retention, RetentionDays, RetentionNum, Schedule, StartTimes,
        Tags, TimeZoneOffset, ValidationError, WeekDays, parse_yes_no, yes_no,
    },
    dto::{CreatePolicyRequest, ScheduledPolicyInput, ScheduledPolicyView, TagInput, UpdatePolicyRequest},
    error::codes::auto_backup as ab,
    message::RetentionRule,
};

/// Everything that decides when a policy fires and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    pub start_times: StartTimes,
    pub schedule: Schedule,
    pub retention: Retention,
    pub keep_first_of_month: bool,
    pub status: PolicyStatus,
    /// `None` when the tenant gave no time zone: the local calendar is UTC.
    pub time_zone: Option<TimeZoneOffset>,
}

impl PolicySettings {
    /// Applies a modify request: each given part replaces the stored one. A request that names
    /// `week_frequency` (and not `frequency`) switches a policy to a weekly schedule, as
    /// Terraform does when it changes the schedule kind; likewise for the retention fields.
    pub fn apply(&mut self, patch: &PolicyPatch) {
        if let Some(t) = &patch.start_times {
            self.start_times = t.clone();
        }
        if let Some(s) = patch.schedule {
            self.schedule = s;
        }
        if let Some(r) = patch.retention {
            self.retention = r;
        }
        if let Some(k) = patch.keep_first_of_month {
            self.keep_first_of_month = k;
        }
        if let Some(s) = patch.status {
            self.status = s;
        }
        if let Some(tz) = patch.time_zone {
            self.time_zone = Some(tz);
        }
    }

    pub fn view(&self) -> ScheduledPolicyView {
        ScheduledPolicyView {
            start_time: self.start_times.to_string(),
            frequency: self.schedule.frequency().map(Frequency::days),
            week_frequency: self.schedule.week_days().map(WeekDays::to_strings),
            rentention_num: self.retention.num().map(RetentionNum::get),
            rentention_day: self.retention.days().map(RetentionDays::get),
            remain_first_backup_of_cur_month: yes_no(self.keep_first_of_month).to_owned(),
            status: self.status.as_str().to_owned(),
        }
    }

    pub fn retention_rule(&self) -> RetentionRule {
        RetentionRule {
            count: self.retention.num().map(RetentionNum::get),
            days: self.retention.days().map(RetentionDays::get),
            keep_first_of_month: self.keep_first_of_month,
        }
    }
}

/// A policy to create.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: PolicyName,
    pub settings: PolicySettings,
    pub tags: Tags,
}

impl TryFrom<CreatePolicyRequest> for NewPolicy {
    type Error = ValidationError;

    fn try_from(req: CreatePolicyRequest) -> Result<Self, Self::Error> {
        let name = PolicyName::parse(&req.backup_policy_name)?;
        let sp = Parts::parse(&req.scheduled_policy)?;
        let start_times = sp.start_times.ok_or_else(|| {
            ValidationError::new("scheduled_policy.start_time", "is required")
                .with_code(ab::START_TIME_INVALID)
        })?;
        let status = sp.status.ok_or_else(|| {
            ValidationError::new("scheduled_policy.status", "is required (\"ON\" or \"OFF\")")
                .with_code(ab::STATUS_INVALID)
        })?;
        let settings = PolicySettings {
            start_times,
            schedule: Schedule::choose(sp.frequency, sp.week_days)?,
            retention: Retention::choose(sp.retention_num, sp.retention_days)?,
            keep_first_of_month: sp.keep_first_of_month.unwrap_or(false),
            status,
            time_zone: req.time_zone.as_deref().map(TimeZoneOffset::parse).transpose()?,
        };
        let tags = parse_tags(req.tags.as_deref().unwrap_or_default())?;
        Ok(Self { name, settings, tags })
    }
}

/// Parses request tags (`value` may be empty, `key` is required).
pub fn parse_tags(input: &[TagInput]) -> Result<Tags, ValidationError> {
    let mut pairs = Vec::with_capacity(input.len());
    for t in input {
        let key = t
            .key
            .as_deref()
            .ok_or_else(|| ValidationError::new("tags.key", "is required").with_code(ab::TAG_INVALID))?;
        pairs.push((key, t.value.as_deref().unwrap_or("")));
    }
    Tags::parse(pairs)
}

/// A modify request, parsed: `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct PolicyPatch {
    pub name: Option<PolicyName>,
    pub start_times: Option<StartTimes>,
    pub schedule: Option<Schedule>,
    pub retention: Option<Retention>,
    pub keep_first_of_month: Option<bool>,
    pub status: Option<PolicyStatus>,
    pub time_zone: Option<TimeZoneOffset>,
}

impl TryFrom<UpdatePolicyRequest> for PolicyPatch {
    type Error = ValidationError;

    fn try_from(req: UpdatePolicyRequest) -> Result<Self, Self::Error> {
        let name = req.backup_policy_name.as_deref().map(PolicyName::parse).transpose()?;
        let sp = req.scheduled_policy.as_ref().map(Parts::parse).transpose()?.unwrap_or_default();
        let schedule = match (sp.frequency, sp.week_days) {
            (None, None) => None,
            (f, w) => Some(Schedule::choose(f, w)?),
        };
        let retention = match (sp.retention_num, sp.retention_days) {
            (None, None) => None,
            (n, d) => Some(Retention::choose(n, d)?),
        };
        Ok(Self {
            name,
            start_times: sp.start_times,
            schedule,
            retention,
            keep_first_of_month: sp.keep_first_of_month,
            status: sp.status,
            time_zone: req.time_zone.as_deref().map(TimeZoneOffset::parse).transpose()?,
        })
    }
}

/// The fields of a `scheduled_policy` object, each parsed if present. Every given field must be
/// valid, even one that loses to another (an invalid `week_frequency` is refused even when
/// `frequency` wins): a request with a mistake in it is not silently half-applied.
#[derive(Debug, Default)]
struct Parts {
    start_times: Option<StartTimes>,
    frequency: Option<Frequency>,
    week_days: Option<WeekDays>,
    retention_num: Option<RetentionNum>,
    retention_days: Option<RetentionDays>,
    keep_first_of_month: Option<bool>,
    status: Option<PolicyStatus>,
}

impl Parts {
    fn parse(sp: &ScheduledPolicyInput) -> Result<Self, ValidationError> {
        if let Some((wrong, right)) = sp.misspelled_retention_key() {
            return Err(ValidationError::new(
                "scheduled_policy",
                format!("unknown field {wrong:?}: this API spells it {right:?}"),
            )
            .with_code(ab::RETENTION_INVALID));
        }
        Ok(Self {
            start_times: sp.start_time.as_deref().map(StartTimes::parse).transpose()?,
            frequency: sp.frequency.map(Frequency::parse).transpose()?,
            week_days: sp.week_frequency.as_deref().map(WeekDays::parse).transpose()?,
            retention_num: sp.rentention_num.map(RetentionNum::parse).transpose()?,
            retention_days: sp.rentention_day.map(RetentionDays::parse).transpose()?,
            keep_first_of_month: sp
                .remain_first_backup_of_cur_month
                .as_deref()
                .map(|v| parse_yes_no("scheduled_policy.remain_first_backup_of_curMonth", v))
                .transpose()?,
            status: sp.status.as_deref().map(PolicyStatus::parse).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn create(body: Value) -> Result<NewPolicy, ValidationError> {
        NewPolicy::try_from(serde_json::from_value::<CreatePolicyRequest>(body).unwrap())
    }

    fn base() -> Value {
        json!({
            "backup_policy_name": "policy_01",
            "scheduled_policy": {
                "remain_first_backup_of_curMonth": "Y",
                "rentention_day": 30,
                "week_frequency": ["SUN", "WED"],
                "start_time": "12:00",
                "status": "ON"
            },
            "tags": [{"key": "key", "value": "value"}],
            "time_zone": "UTC+08:00"
        })
    }

    /// Sets `/a/b` in `body`, creating the last key when missing.
    fn set(body: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { &mut *body } else { body.pointer_mut(parent).unwrap() };
        parent.as_object_mut().unwrap().insert(key.to_owned(), value);
    }

    #[test]
    fn seed_example_parses() {
        let p = create(base()).unwrap();
        assert_eq!(p.name.as_str(), "policy_01");
        let v = p.settings.view();
        assert_eq!(v.week_frequency.as_deref(), Some(&["SUN".to_owned(), "WED".to_owned()][..]));
        assert_eq!(v.rentention_day, Some(30));
        assert_eq!(v.remain_first_backup_of_cur_month, "Y");
        assert_eq!(p.settings.time_zone.unwrap().minutes(), 480);
        assert_eq!(p.tags.len(), 1);
    }

    /// Each case sets one field of the seed example and expects the error code (or success).
    #[test]
    fn create_rules_table() {
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("/backup_policy_name", json!(""), Some("AutoBackup.0101")),
            ("/backup_policy_name", json!("x".repeat(65)), Some("AutoBackup.0101")),
            ("/backup_policy_name", json!("default_1"), Some("AutoBackup.0102")),
            ("/backup_policy_name", json!("bad name"), Some("AutoBackup.0102")),
            ("/scheduled_policy/start_time", json!("12:30"), Some("AutoBackup.0103")),
            ("/scheduled_policy/start_time", json!("22:00,00:00,02:00"), None),
            ("/scheduled_policy/status", json!("on"), Some("AutoBackup.0104")),
            ("/scheduled_policy/remain_first_backup_of_curMonth", json!("yes"), Some("AutoBackup.0105")),
            ("/scheduled_policy/week_frequency", json!(["FUNDAY"]), Some("AutoBackup.0106")),
            ("/scheduled_policy/week_frequency", json!([]), Some("AutoBackup.0106")),
            ("/scheduled_policy/frequency", json!(15), Some("AutoBackup.0106")),
            ("/scheduled_policy/frequency", json!(14), None),
            ("/scheduled_policy/rentention_day", json!(1), Some("AutoBackup.0107")),
            ("/scheduled_policy/rentention_day", json!(1.99), Some("AutoBackup.0107")),
            ("/scheduled_policy/rentention_day", json!(2.99), None),
            ("/scheduled_policy/rentention_day", json!(100000), Some("AutoBackup.0107")),
            ("/scheduled_policy/rentention_num", json!(1), Some("AutoBackup.0107")),
            ("/scheduled_policy/rentention_num", json!(15), Some("AutoBackup.0107")),
            ("/scheduled_policy/rentention_num", json!(14), None),
            ("/time_zone", json!("UTC+8"), Some("AutoBackup.0226")),
            ("/time_zone", json!("UTC-02:00"), None),
            ("/tags", json!([{"key": "", "value": "v"}]), Some("AutoBackup.0214")),
            ("/tags", json!([{"key": "k", "value": "x".repeat(44)}]), Some("AutoBackup.0214")),
            ("/tags", json!([{"key": "k"}, {"key": "k"}]), Some("AutoBackup.0214")),
            (
                "/tags",
                json!((0..11).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect::<Vec<_>>()),
                Some("AutoBackup.0215"),
            ),
        ];
        for (pointer, value, expected) in cases {
            let mut body = base();
            set(&mut body, pointer, value.clone());
            let result = create(body);
            match expected {
                None => assert!(result.is_ok(), "{pointer}={value}: {result:?}"),
                Some(code) => {
                    let err = result.expect_err(&format!("{pointer}={value} should fail"));
                    assert_eq!(err.code, Some(code), "{pointer}={value}: {err}");
                }
            }
        }
    }

    #[test]
    fn required_parts_and_precedence() {
        let mut body = base();
        body["scheduled_policy"].as_object_mut().unwrap().remove("week_frequency");
        assert_eq!(create(body).unwrap_err().code, Some("AutoBackup.0106"));

        let mut body = base();
        body["scheduled_policy"].as_object_mut().unwrap().remove("rentention_day");
        assert_eq!(create(body).unwrap_err().code, Some("AutoBackup.0107"));

        let mut body = base();
        body["scheduled_policy"]["frequency"] = json!(3);
        body["scheduled_policy"]["rentention_num"] = json!(5);
        let p = create(body).unwrap();
        assert_eq!(p.settings.view().frequency, Some(3));
        assert_eq!(p.settings.view().week_frequency, None);
        assert_eq!(p.settings.view().rentention_num, Some(5));
        assert_eq!(p.settings.view().rentention_day, None);

        let mut body = base();
        body["scheduled_policy"]["retention_num"] = json!(5);
        let err = create(body).unwrap_err();
        assert!(err.message.contains("rentention_num"), "{err}");
    }

    #[test]
    fn modify_merges() {
        let mut settings = create(base()).unwrap().settings;
        let patch: PolicyPatch = serde_json::from_value::<UpdatePolicyRequest>(json!({
            "backup_policy_id": "ignored",
            "scheduled_policy": {"status": "OFF"}
        }))
        .unwrap()
        .try_into()
        .unwrap();
        settings.apply(&patch);
        assert_eq!(settings.status, PolicyStatus::Off);
        assert_eq!(settings.view().week_frequency.unwrap().len(), 2);

        let patch: PolicyPatch = serde_json::from_value::<UpdatePolicyRequest>(json!({
            "scheduled_policy": {"frequency": 2, "rentention_num": 3}
        }))
        .unwrap()
        .try_into()
        .unwrap();
        settings.apply(&patch);
        assert_eq!(settings.view().frequency, Some(2));
        assert_eq!(settings.view().week_frequency, None);
        assert_eq!(settings.view().rentention_num, Some(3));
        assert_eq!(settings.view().rentention_day, None);

        let patch: PolicyPatch = serde_json::from_value::<UpdatePolicyRequest>(json!({
            "scheduled_policy": {"week_frequency": ["MON"]}
        }))
        .unwrap()
        .try_into()
        .unwrap();
        settings.apply(&patch);
        assert_eq!(settings.view().week_frequency.unwrap(), ["MON"]);
        assert_eq!(settings.view().frequency, None);
    }
}
