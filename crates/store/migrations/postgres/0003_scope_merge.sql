-- mijian collector store, version 3 (PostgreSQL; sqlite/0002_scope_merge.sql
-- is the same change). A host's current state is merged from its reports,
-- each within its `scope` (issue 11): one row per (check, subject) with the
-- seq that last reported it; per host the seq of the newest report that
-- covered all checks, all content, the media; the seq that resolved a
-- finding; and the gaps the agent declared (signed `declared_gaps`).
CREATE TABLE host_checks (
    agent_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    subject  TEXT NOT NULL,
    status   TEXT NOT NULL,
    body     TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (agent_id, check_id, subject)
);
ALTER TABLE hosts ADD COLUMN checks_full_seq BIGINT;
ALTER TABLE hosts ADD COLUMN content_full_seq BIGINT;
ALTER TABLE hosts ADD COLUMN media_full_seq BIGINT;
ALTER TABLE findings ADD COLUMN resolved_seq BIGINT;
CREATE TABLE declared_gaps (
    agent_id     TEXT NOT NULL,
    seq_from     BIGINT NOT NULL,
    seq_to       BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    declared_seq BIGINT NOT NULL,
    PRIMARY KEY (agent_id, seq_from, seq_to)
);
-- Until now the newest report was taken as a full inspection: carry its
-- checks over as merged state.
INSERT INTO host_checks (agent_id, check_id, subject, status, body, seq)
SELECT h.agent_id, j.value->>'id', j.value->>'subject', j.value->>'status', j.value::text, h.latest_seq
FROM hosts h, json_array_elements(h.latest_checks::json) j
WHERE h.latest_checks IS NOT NULL AND h.latest_seq IS NOT NULL
  AND json_typeof(h.latest_checks::json) = 'array'
  AND j.value->>'id' IS NOT NULL AND j.value->>'subject' IS NOT NULL AND j.value->>'status' IS NOT NULL
ON CONFLICT (agent_id, check_id, subject) DO NOTHING;
UPDATE hosts SET checks_full_seq = latest_seq, content_full_seq = latest_seq,
    media_full_seq = latest_seq WHERE latest_seq IS NOT NULL;
