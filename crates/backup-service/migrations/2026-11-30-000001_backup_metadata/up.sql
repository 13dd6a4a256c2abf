-- What clients attach to a backup (Cinder microversions 3.43 and 3.51): free key/value
-- metadata (a JSON object of strings) and the availability zone the backup was asked for.
ALTER TABLE backups ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE backups ADD COLUMN availability_zone TEXT;
