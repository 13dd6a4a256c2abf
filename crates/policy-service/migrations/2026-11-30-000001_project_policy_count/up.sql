-- How many policies a project has, kept beside its row lock: a create checks the cap and counts
-- itself in one statement (store::create_policy), a delete counts itself out.
ALTER TABLE projects ADD COLUMN policy_count INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET policy_count = (SELECT count(*) FROM policies WHERE policies.project_id = projects.project_id);
