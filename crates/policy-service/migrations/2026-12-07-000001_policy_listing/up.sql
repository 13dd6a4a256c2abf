-- What the policy list shows of a policy beyond its row: its number of volumes and its tags
-- (one JSON text of [key, value] pairs, by key then value). The list joins this view to the
-- policies in one typed query, which the service prepares once per connection instead of
-- parsing and planning the subqueries at every request.
CREATE VIEW policy_extras AS
SELECT p.id AS policy_id,
       (SELECT count(*) FROM policy_volumes v WHERE v.policy_id = p.id) AS volume_count,
       (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value)::text
          FROM policy_tags t WHERE t.policy_id = p.id) AS tags
FROM policies p;
