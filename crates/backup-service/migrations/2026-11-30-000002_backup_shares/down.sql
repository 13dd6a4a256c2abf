ALTER TABLE jobs DROP COLUMN backup_project_id;
DROP TABLE backup_shares;
