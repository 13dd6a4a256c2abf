DROP TABLE policy_tags;
DROP TABLE policy_volumes;
DROP TABLE policies;
DROP TABLE projects;
