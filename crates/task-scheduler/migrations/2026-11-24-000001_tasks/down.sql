DROP TABLE tasks;
DROP TABLE policy_volumes;
DROP TABLE policies;
