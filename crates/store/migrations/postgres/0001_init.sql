-- mijian collector store, version 1 (PostgreSQL). Keep in step with
-- migrations/sqlite/0001_init.sql: same tables, same columns, same meaning.
CREATE TABLE agents (
    agent_id    TEXT PRIMARY KEY,
    jwk         TEXT NOT NULL,
    hostname    TEXT,
    enrolled_at BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE TABLE enroll_tokens (
    token_hash TEXT PRIMARY KEY,
    uses_left  BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    label      TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE TABLE reports (
    id             BIGSERIAL PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    report_id      TEXT NOT NULL UNIQUE,
    prev           TEXT,
    payload_sha256 TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    trigger_kind   TEXT NOT NULL,
    compliant      BIGINT NOT NULL,
    jws            BYTEA NOT NULL,
    UNIQUE (agent_id, seq)
);
CREATE INDEX reports_received_at ON reports (received_at);
CREATE TABLE hosts (
    agent_id          TEXT PRIMARY KEY,
    hostname          TEXT,
    os                TEXT,
    classification    TEXT,
    last_seen         BIGINT,
    latest_seq        BIGINT,
    latest_report_id  TEXT,
    latest_created_at TEXT,
    compliant         BIGINT,
    failed_checks     BIGINT NOT NULL DEFAULT 0,
    open_findings     BIGINT NOT NULL DEFAULT 0,
    latest_checks     TEXT,
    first_seq         BIGINT,
    max_seq           BIGINT,
    seq_count         BIGINT NOT NULL DEFAULT 0,
    tamper_alerts     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX hosts_last_seen ON hosts (last_seen);
CREATE TABLE findings (
    agent_id      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    path          TEXT,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL,
    first_seq     BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL,
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    resolved_at   BIGINT,
    PRIMARY KEY (agent_id, fingerprint)
);
CREATE INDEX findings_status ON findings (status, severity_rank);
CREATE INDEX findings_kind ON findings (kind);
CREATE TABLE tamper_alerts (
    id             BIGSERIAL PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    report_id      TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    reason         TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    jws            BYTEA NOT NULL,
    UNIQUE (agent_id, payload_sha256)
);
