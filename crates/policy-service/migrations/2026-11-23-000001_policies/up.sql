-- One row per project that ever had a policy. Creating a policy locks its project's row, so the
-- 10-policy cap holds under concurrent creates.
CREATE TABLE projects (
    project_id TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (project_id),
    name TEXT NOT NULL,
    -- Whole UTC hours as the tenant gave them: "22:00,00:00,02:00".
    start_times TEXT NOT NULL,
    -- Exactly one of frequency (days) and week_days ("SUN,WED") is set.
    frequency SMALLINT,
    week_days TEXT,
    -- Exactly one of retention_num and retention_days is set.
    retention_num SMALLINT,
    retention_days INTEGER,
    keep_first_of_month BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    -- "UTC+08:00", or NULL when the tenant gave none (UTC).
    time_zone TEXT,
    -- Increases with every change of the policy, its volumes or its tags.
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((frequency IS NULL) <> (week_days IS NULL)),
    CHECK ((retention_num IS NULL) <> (retention_days IS NULL))
);
CREATE INDEX policies_project ON policies (project_id, created_at);

-- A volume belongs to at most one policy of its project.
CREATE TABLE policy_volumes (
    project_id TEXT NOT NULL,
    volume_id TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, volume_id)
);
CREATE INDEX policy_volumes_policy ON policy_volumes (policy_id);

CREATE TABLE policy_tags (
    policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (policy_id, key)
);
