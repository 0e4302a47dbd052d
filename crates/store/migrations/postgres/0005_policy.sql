-- mijian collector store: the central policy (issue 13). One row per policy
-- version: the rules in clear (JSON [{path, content}], for show and diff),
-- the exceptions (JSON), the change that made it (actor, action, message)
-- and the signed bundle agents fetch (the JWS bytes, signed once).
CREATE TABLE policy_versions (
    version     BIGINT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    message     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    mode        TEXT NOT NULL,
    files       TEXT NOT NULL,
    exceptions  TEXT NOT NULL,
    bundle      BYTEA NOT NULL
);
