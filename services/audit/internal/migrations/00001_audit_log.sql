-- +goose Up
-- One row per event seen on the streams: who did what to which aggregate, when, and the
-- event itself. Rebuilt from the streams by replay.
CREATE TABLE audit_log (
    event_id       uuid        PRIMARY KEY,
    event_type     text        NOT NULL,
    actor_id       uuid,
    actor_username text,
    subject        text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    correlation_id text,
    stream         text        NOT NULL,
    stream_seq     bigint      NOT NULL,
    event          jsonb       NOT NULL,
    UNIQUE (stream, stream_seq)
);

CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at DESC);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, occurred_at);
CREATE INDEX audit_log_type_idx ON audit_log (event_type, occurred_at DESC);

-- +goose Down
DROP TABLE audit_log;
