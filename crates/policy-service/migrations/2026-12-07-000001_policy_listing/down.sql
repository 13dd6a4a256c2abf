DROP VIEW policy_extras;
