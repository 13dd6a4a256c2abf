DROP VIEW policy_listing;
