-- The policy list reads this view: each policy with its number of volumes and its tags (one
-- JSON text of [key, value] pairs, by key then value). A list is then one typed query, which
-- the service prepares once per connection instead of parsing and planning the subqueries
-- at every request.
CREATE VIEW policy_listing AS
SELECT p.id, p.project_id, p.name, p.start_times, p.frequency, p.week_days, p.retention_num,
       p.retention_days, p.keep_first_of_month, p.enabled, p.time_zone, p.version, p.created_at,
       p.updated_at,
       (SELECT count(*) FROM policy_volumes v WHERE v.policy_id = p.id) AS volume_count,
       (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value)::text
          FROM policy_tags t WHERE t.policy_id = p.id) AS tags
FROM policies p;
