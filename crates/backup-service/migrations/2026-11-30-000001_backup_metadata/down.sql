ALTER TABLE backups DROP COLUMN availability_zone;
ALTER TABLE backups DROP COLUMN metadata;
