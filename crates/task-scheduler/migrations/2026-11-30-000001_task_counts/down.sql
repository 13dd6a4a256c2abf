DROP TRIGGER task_counts_delete ON tasks;
DROP TRIGGER task_counts_update ON tasks;
DROP TRIGGER task_counts_insert ON tasks;
DROP FUNCTION task_counts_after_delete();
DROP FUNCTION task_counts_after_update();
DROP FUNCTION task_counts_after_insert();
DROP TABLE task_counts;
