// @generated automatically by Diesel CLI.

diesel::table! {
    policies (id) {
        id -> Text,
        project_id -> Text,
        version -> Int8,
        deleted -> Bool,
        enabled -> Bool,
        start_times -> Text,
        frequency_days -> Nullable<Int2>,
        week_days -> Nullable<Text>,
        utc_offset_minutes -> Int2,
        retention_count -> Nullable<Int2>,
        retention_days -> Nullable<Int4>,
        keep_first_of_month -> Bool,
        next_fire_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    policy_volumes (policy_id, volume_id) {
        policy_id -> Text,
        volume_id -> Text,
    }
}

diesel::table! {
    task_counts (policy_id, status) {
        policy_id -> Text,
        status -> Text,
        n -> Int8,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        seq -> Int8,
        project_id -> Text,
        policy_id -> Text,
        volume_id -> Text,
        trigger -> Text,
        scheduled_at -> Timestamp,
        status -> Text,
        backup_name -> Text,
        backup_id -> Nullable<Text>,
        vbs_job_id -> Nullable<Text>,
        code -> Nullable<Text>,
        message -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        deadline -> Timestamp,
    }
}

diesel::joinable!(policy_volumes -> policies (policy_id));

diesel::allow_tables_to_appear_in_same_query!(policies, policy_volumes, task_counts, tasks,);
