// @generated automatically by Diesel CLI.

diesel::table! {
    policies (id) {
        id -> Text,
        project_id -> Text,
        name -> Text,
        start_times -> Text,
        frequency -> Nullable<Int2>,
        week_days -> Nullable<Text>,
        retention_num -> Nullable<Int2>,
        retention_days -> Nullable<Int4>,
        keep_first_of_month -> Bool,
        enabled -> Bool,
        time_zone -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    policy_tags (policy_id, key) {
        policy_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    policy_volumes (project_id, volume_id) {
        project_id -> Text,
        volume_id -> Text,
        policy_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    projects (project_id) {
        project_id -> Text,
        created_at -> Timestamp,
        policy_count -> Int4,
    }
}

diesel::joinable!(policies -> projects (project_id));
diesel::joinable!(policy_tags -> policies (policy_id));
diesel::joinable!(policy_volumes -> policies (policy_id));

diesel::allow_tables_to_appear_in_same_query!(policies, policy_tags, policy_volumes, projects,);
