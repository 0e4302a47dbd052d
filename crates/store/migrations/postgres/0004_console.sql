-- mijian collector store, console (PostgreSQL). Keep in step with
-- migrations/sqlite/0003_console.sql: same tables, same columns, same meaning.
-- Staff lockout: 5 failed logins lock the account for 10 minutes.
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT;
-- Console sessions: the cookie's SHA-256, never the cookie.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    role        TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_active BIGINT NOT NULL,
    addr        TEXT
);
-- Every staff action, login and failed login. Append-only: the triggers
-- refuse UPDATE and DELETE from anyone, the collector included.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT,
    addr    TEXT,
    outcome TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
-- Staff decisions on findings, beside the findings ingest maintains:
-- acknowledged, resolved (until a later report carries it again) or
-- exception (until expires_at, after which the finding is open again).
CREATE TABLE finding_triage (
    agent_id      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL,
    justification TEXT,
    expires_at    BIGINT,
    at_seq        BIGINT,
    actor         TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (agent_id, fingerprint)
);
-- The media register (涉密载体台账), as media.toml writes it.
CREATE TABLE media_register (
    medium_id  TEXT PRIMARY KEY,
    serial     TEXT,
    vendor_id  TEXT,
    product_id TEXT,
    fs_uuid    TEXT,
    label      TEXT,
    level      TEXT,
    holder     TEXT,
    note       TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
-- Critical events for the officer, and their forwarding state.
CREATE TABLE alerts (
    id           BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    agent_id     TEXT,
    hostname     TEXT,
    detail       TEXT NOT NULL,
    dedup        TEXT NOT NULL UNIQUE,
    forwarded    BIGINT NOT NULL DEFAULT 0,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX alerts_pending ON alerts (forwarded, id);
-- Fleet compliance per day, for the overview's trend.
CREATE TABLE compliance_history (
    day       BIGINT PRIMARY KEY,
    hosts     BIGINT NOT NULL,
    compliant BIGINT NOT NULL,
    silent    BIGINT NOT NULL
);
-- Why each host is non-compliant, derived from its latest checks and
-- findings by the console's background task (bit set, see collector ui).
CREATE TABLE host_causes (
    agent_id TEXT PRIMARY KEY,
    seq      BIGINT,
    causes   BIGINT NOT NULL
);
-- Cursors of background tasks.
CREATE TABLE console_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Keyset pagination: the findings list walks (status, severity, agent,
-- fingerprint) in index order, with or without a kind filter. The first
-- replaces findings_status, of which it is an extension.
DROP INDEX findings_status;
CREATE INDEX findings_keyset ON findings (status, severity_rank, agent_id, fingerprint);
CREATE INDEX findings_kind_keyset ON findings (status, kind, severity_rank, agent_id, fingerprint);
CREATE INDEX findings_first_seen ON findings (first_seen, agent_id, fingerprint);
CREATE INDEX hosts_hostname ON hosts (hostname, agent_id);
CREATE INDEX hosts_open_findings ON hosts (open_findings, agent_id);
