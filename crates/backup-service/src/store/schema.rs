// @generated automatically by Diesel CLI.

diesel::table! {
    backup_shares (id) {
        id -> Text,
        backup_id -> Text,
        from_project_id -> Text,
        to_project_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    backups (id) {
        id -> Text,
        project_id -> Text,
        volume_id -> Text,
        snapshot_id -> Nullable<Text>,
        name -> Nullable<Text>,
        description -> Nullable<Text>,
        status -> Text,
        policy_id -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        volume_bytes -> Int8,
        size_gib -> Int8,
        object_count -> Nullable<Int8>,
        stored_bytes -> Nullable<Int8>,
        progress_done -> Int8,
        progress_total -> Int8,
        crash_consistent -> Bool,
        fail_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        data_timestamp -> Nullable<Timestamp>,
        metadata -> Text,
        availability_zone -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        project_id -> Text,
        job_type -> Text,
        status -> Text,
        backup_id -> Text,
        volume_id -> Text,
        snapshot_id -> Nullable<Text>,
        backup_name -> Nullable<Text>,
        full_backup -> Bool,
        busy_volume -> Nullable<Text>,
        task_id -> Nullable<Text>,
        policy_id -> Nullable<Text>,
        retention -> Nullable<Text>,
        utc_offset_minutes -> Nullable<Int2>,
        attempts -> Int4,
        lease -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
        progress_done -> Int8,
        progress_total -> Int8,
        error_code -> Nullable<Text>,
        fail_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        begin_time -> Nullable<Timestamp>,
        end_time -> Nullable<Timestamp>,
        backup_project_id -> Nullable<Text>,
    }
}

diesel::table! {
    project_storage (project_id) {
        project_id -> Text,
        created_at -> Timestamp,
        last_gc_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(backup_shares -> backups (backup_id));

diesel::allow_tables_to_appear_in_same_query!(backup_shares, backups, jobs, project_storage,);
