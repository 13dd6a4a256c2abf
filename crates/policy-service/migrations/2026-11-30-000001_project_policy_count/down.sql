ALTER TABLE projects DROP COLUMN policy_count;
