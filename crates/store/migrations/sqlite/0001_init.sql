-- mijian collector store, version 1 (SQLite). Keep in step with
-- migrations/postgres/0001_init.sql: same tables, same columns, same meaning.
CREATE TABLE agents (
    agent_id    TEXT PRIMARY KEY,
    jwk         TEXT NOT NULL,
    hostname    TEXT,
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE TABLE enroll_tokens (
    token_hash TEXT PRIMARY KEY,
    uses_left  INTEGER NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    label      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE TABLE reports (
    id             INTEGER PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    report_id      TEXT NOT NULL UNIQUE,
    prev           TEXT,
    payload_sha256 TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    trigger_kind   TEXT NOT NULL,
    compliant      INTEGER NOT NULL,
    jws            BLOB NOT NULL,
    UNIQUE (agent_id, seq)
);
CREATE INDEX reports_received_at ON reports (received_at);
CREATE TABLE hosts (
    agent_id          TEXT PRIMARY KEY,
    hostname          TEXT,
    os                TEXT,
    classification    TEXT,
    last_seen         INTEGER,
    latest_seq        INTEGER,
    latest_report_id  TEXT,
    latest_created_at TEXT,
    compliant         INTEGER,
    failed_checks     INTEGER NOT NULL DEFAULT 0,
    open_findings     INTEGER NOT NULL DEFAULT 0,
    latest_checks     TEXT,
    first_seq         INTEGER,
    max_seq           INTEGER,
    seq_count         INTEGER NOT NULL DEFAULT 0,
    tamper_alerts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hosts_last_seen ON hosts (last_seen);
CREATE TABLE findings (
    agent_id      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    path          TEXT,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL,
    first_seq     INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    resolved_at   INTEGER,
    PRIMARY KEY (agent_id, fingerprint)
);
CREATE INDEX findings_status ON findings (status, severity_rank);
CREATE INDEX findings_kind ON findings (kind);
CREATE TABLE tamper_alerts (
    id             INTEGER PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    report_id      TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    reason         TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    jws            BLOB NOT NULL,
    UNIQUE (agent_id, payload_sha256)
);
