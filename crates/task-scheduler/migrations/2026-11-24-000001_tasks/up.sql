-- The scheduler's read model of the policies, built from policy.changed. A deleted policy stays
-- as a tombstone (deleted, no schedule) so that a late, older message cannot bring it back.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    -- The highest policy version applied; older messages change nothing.
    version BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- Whole UTC hours, "22:00,00:00,02:00"; empty for a tombstone.
    start_times TEXT NOT NULL,
    -- At most one of frequency_days and week_days ("SUN,WED") is set; neither on a tombstone.
    frequency_days SMALLINT,
    week_days TEXT,
    utc_offset_minutes SMALLINT NOT NULL,
    retention_count SMALLINT,
    retention_days INTEGER,
    keep_first_of_month BOOLEAN NOT NULL,
    -- The earliest slot not yet handled; NULL when the policy fires nothing (OFF or deleted).
    next_fire_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    CHECK (frequency_days IS NULL OR week_days IS NULL)
);
-- The tick's claim: due policies, oldest slot first.
CREATE INDEX policies_due ON policies (next_fire_at) WHERE next_fire_at IS NOT NULL;

CREATE TABLE policy_volumes (
    policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    volume_id TEXT NOT NULL,
    PRIMARY KEY (policy_id, volume_id)
);

-- One row per backup task (the API's "backup job"); id is the job_id.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    -- Creation order: breaks ties between tasks created in the same instant (one slot fires a
    -- task per volume at once), so pages and markers are stable.
    seq BIGSERIAL NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    volume_id TEXT NOT NULL,
    -- "schedule" (a slot of the policy) or "manual" (execute now).
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    -- The slot (whole UTC hour) or, for a manual task, the instant it was requested.
    scheduled_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('WAITING', 'RUNNING', 'EXECUTE_SUCCESS', 'EXECUTE_FAIL', 'EXECUTE_TIMEOUT', 'SKIP')),
    backup_name TEXT NOT NULL,
    backup_id TEXT,
    vbs_job_id TEXT,
    code TEXT,
    message TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    deadline TIMESTAMP NOT NULL,
    -- Exactly once: a slot fires one task per volume, however many schedulers race for it.
    UNIQUE (policy_id, volume_id, trigger, scheduled_at)
);
-- The task query: one policy's tasks in created_at order, with or without a status filter.
CREATE INDEX tasks_policy_created ON tasks (policy_id, created_at, seq);
CREATE INDEX tasks_policy_status_created ON tasks (policy_id, status, created_at, seq);
-- Open tasks: the previous task of a volume, and the timeout sweeper.
CREATE INDEX tasks_open_volume ON tasks (project_id, volume_id) WHERE status IN ('WAITING', 'RUNNING');
CREATE INDEX tasks_open_deadline ON tasks (deadline) WHERE status IN ('WAITING', 'RUNNING');
