-- A policy create in one call: the project's row (created on first use) counts its policies
-- and is the lock (`INSERT … ON CONFLICT DO UPDATE … WHERE` locks it and checks the count of its
-- latest committed version, so concurrent creates queue on it and the cap holds), then the
-- policy, its tags and the outbox row of its `policy.changed`, all in one statement. A
-- function, so that the service calls it through a statement it prepares once per connection
-- and PL/pgSQL keeps the statement's plan, instead of parsing and planning it at every create.
-- The policy is created at version 1. Returns false, creating nothing, when the project has
-- `p_cap` policies already.
CREATE FUNCTION create_policy(
    p_project_id TEXT, p_now TIMESTAMP, p_cap INT, p_id TEXT, p_name TEXT, p_start_times TEXT,
    p_frequency SMALLINT, p_week_days TEXT, p_retention_num SMALLINT, p_retention_days INT,
    p_keep_first_of_month BOOLEAN, p_enabled BOOLEAN, p_time_zone TEXT,
    p_tag_keys TEXT[], p_tag_values TEXT[],
    -- message_id, routing_key, body, traceparent
    p_message TEXT[]
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    created BIGINT;
BEGIN
    WITH project AS (
        INSERT INTO projects AS p (project_id, created_at, policy_count) VALUES (p_project_id, p_now, 1)
        ON CONFLICT (project_id) DO UPDATE SET policy_count = p.policy_count + 1
        WHERE p.policy_count < p_cap
        RETURNING p.project_id
    ), policy AS (
        INSERT INTO policies (id, project_id, name, start_times, frequency, week_days,
            retention_num, retention_days, keep_first_of_month, enabled, time_zone, version,
            created_at, updated_at)
        SELECT p_id, project.project_id, p_name, p_start_times, p_frequency, p_week_days,
            p_retention_num, p_retention_days, p_keep_first_of_month, p_enabled, p_time_zone,
            1, p_now, p_now
        FROM project
        RETURNING policies.id
    ), tags AS (
        INSERT INTO policy_tags (policy_id, key, value)
        SELECT policy.id, t.key, t.value FROM policy, unnest(p_tag_keys, p_tag_values) AS t (key, value)
    ), message AS (
        INSERT INTO outbox (message_id, routing_key, body, traceparent, created_at)
        SELECT p_message[1], p_message[2], p_message[3], p_message[4], p_now FROM policy
    )
    SELECT count(*) INTO created FROM policy;
    RETURN created = 1;
END
$$;
