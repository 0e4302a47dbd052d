-- mijian collector store, version 6 (PostgreSQL; sqlite/0005_host_policy.sql
-- is the same change). The policy each host's newest report ran (`policy.version`
-- of the signed bundle, NULL for local rules; `policy.digest`), so the console
-- counts which hosts run which version and which are behind in one query
-- instead of opening every host's stored report.
ALTER TABLE hosts ADD COLUMN policy_version BIGINT;
ALTER TABLE hosts ADD COLUMN policy_digest TEXT;
