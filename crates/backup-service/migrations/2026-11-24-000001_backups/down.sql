DROP TABLE project_storage;
DROP TABLE jobs;
DROP TABLE backups;
