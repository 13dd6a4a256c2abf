-- Backups shared with other projects (the vendor's os-vendor-backup-sharing API). The
-- recipient sees the backup and may restore it into its own volumes; a share ends when its
-- owner deletes it or the backup is deleted.
CREATE TABLE backup_shares (
    id TEXT PRIMARY KEY,
    backup_id TEXT NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    from_project_id TEXT NOT NULL,
    to_project_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (backup_id, to_project_id)
);
CREATE INDEX backup_shares_to ON backup_shares (to_project_id);
CREATE INDEX backup_shares_from ON backup_shares (from_project_id);

-- A restore of a backup shared from another project: the backup's owner (its data lives under
-- that project in the object store). NULL: the job's own project.
ALTER TABLE jobs ADD COLUMN backup_project_id TEXT;
