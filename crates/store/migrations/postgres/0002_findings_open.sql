-- mijian collector store, version 2 (PostgreSQL only). Ingest resolves the
-- findings a host's newest report no longer carries:
--   UPDATE findings ... WHERE agent_id = $1 AND status = 'open' AND last_seq < $2
-- Without this index the planner combines `findings_status` (every host's
-- open findings) with the primary key, which grows with the fleet. SQLite
-- needs no index: its query keeps to the primary key (see sql.rs).
CREATE INDEX findings_open_by_agent ON findings (agent_id, last_seq) WHERE status = 'open';
