-- Backups of volumes. A row exists from the moment a backup is requested until its deletion
-- completed; the engine's manifest in the object store holds the data, this row the metadata
-- clients see.
CREATE TABLE backups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    volume_id TEXT NOT NULL,
    -- The snapshot read, when the request named one.
    snapshot_id TEXT,
    name TEXT,
    description TEXT,
    -- creating | available | restoring | deleting | error | error_deleting
    status TEXT NOT NULL,
    -- The policy that created it (an automatic backup), NULL for a manual one. Retention only
    -- ever prunes automatic backups.
    policy_id TEXT,
    -- The backup this one was taken against (incremental); NULL for a full backup.
    parent_id TEXT,
    -- Length of the backed-up volume in bytes, and the same in GiB rounded up (`size`).
    volume_bytes BIGINT NOT NULL,
    size_gib BIGINT NOT NULL,
    -- Objects and bytes this backup wrote to the object store; NULL until available.
    object_count BIGINT,
    stored_bytes BIGINT,
    progress_done BIGINT NOT NULL DEFAULT 0,
    progress_total BIGINT NOT NULL DEFAULT 0,
    -- Read from the live volume (no snapshot could be taken): only crash-consistent.
    crash_consistent BOOLEAN NOT NULL DEFAULT FALSE,
    fail_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- When the data was captured (the worker started reading).
    data_timestamp TIMESTAMP
);
CREATE INDEX backups_project ON backups (project_id, created_at);
CREATE INDEX backups_volume ON backups (project_id, volume_id, created_at);

-- Work on backups: create, restore, delete. The HTTP API (or the backup.requested consumer)
-- inserts a job with its backup.job message in one transaction; a worker claims it with a
-- lease it renews (heartbeat_at) and finishes it in the transaction that records the result.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    -- bksCreateBackup | bksRestoreBackup | bksDeleteBackup
    job_type TEXT NOT NULL,
    -- INIT | RUNNING | SUCCESS | FAIL
    status TEXT NOT NULL,
    backup_id TEXT NOT NULL,
    -- create: the source volume; restore: the target volume; delete: the backup's volume.
    volume_id TEXT NOT NULL,
    snapshot_id TEXT,
    backup_name TEXT,
    -- extend_param FullBackup: store every block instead of an incremental.
    full_backup BOOLEAN NOT NULL DEFAULT FALSE,
    -- The volume this job occupies while it is INIT or RUNNING (NULL otherwise): one backup or
    -- restore per volume at a time.
    busy_volume TEXT,
    -- A policy-triggered backup: its scheduler task, policy and retention.
    task_id TEXT UNIQUE,
    policy_id TEXT,
    retention TEXT,
    utc_offset_minutes SMALLINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- The claim of the attempt running it; heartbeat_at is renewed while it runs.
    lease TEXT,
    heartbeat_at TIMESTAMP,
    progress_done BIGINT NOT NULL DEFAULT 0,
    progress_total BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    fail_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    begin_time TIMESTAMP,
    end_time TIMESTAMP
);
CREATE UNIQUE INDEX jobs_busy_volume ON jobs (project_id, busy_volume) WHERE busy_volume IS NOT NULL;
CREATE INDEX jobs_running ON jobs (status, heartbeat_at);

-- Projects that have data in the object store, for the periodic garbage collection.
CREATE TABLE project_storage (
    project_id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    last_gc_at TIMESTAMP
);
