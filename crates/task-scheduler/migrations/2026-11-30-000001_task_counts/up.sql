-- The task query's `count` (the policy's tasks matching the filters, whatever the page): kept
-- per policy and status by triggers, in the transaction that changes the tasks, so that a
-- count is read from a handful of rows instead of counting the policy's whole history
-- (100,000 tasks took milliseconds per request). Statement-level triggers with transition
-- tables: a tick that inserts a policy's tasks in one statement updates its counters once.
-- Counter rows are changed in (policy_id, status) order within a statement, so two statements
-- that each touch several policies never wait on each other in opposite orders.
CREATE TABLE task_counts (
    policy_id TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (policy_id, status)
);

INSERT INTO task_counts (policy_id, status, n)
SELECT policy_id, status, count(*) FROM tasks GROUP BY policy_id, status;

-- Each trigger adds the statement's changes, per policy and status, to the counters.
CREATE FUNCTION task_counts_after_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_counts (policy_id, status, n)
    SELECT policy_id, status, count(*) FROM new_tasks
    GROUP BY policy_id, status ORDER BY policy_id, status
    ON CONFLICT (policy_id, status) DO UPDATE SET n = task_counts.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION task_counts_after_update() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_counts (policy_id, status, n)
    SELECT policy_id, status, sum(delta)
    FROM (SELECT policy_id, status, 1 AS delta FROM new_tasks
          UNION ALL
          SELECT policy_id, status, -1 FROM old_tasks) AS changes
    GROUP BY policy_id, status HAVING sum(delta) <> 0 ORDER BY policy_id, status
    ON CONFLICT (policy_id, status) DO UPDATE SET n = task_counts.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION task_counts_after_delete() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_counts SET n = task_counts.n - gone.n
    FROM (SELECT policy_id, status, count(*) AS n FROM old_tasks GROUP BY policy_id, status) AS gone
    WHERE task_counts.policy_id = gone.policy_id AND task_counts.status = gone.status;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_counts_after_insert();
CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_counts_after_update();
CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_counts_after_delete();
