-- +goose Up
-- What the consumers of this schema's service have applied: one row per consumer and event,
-- written in the same transaction as the handler's own writes, so an event delivered twice
-- has one effect.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    stream       text        NOT NULL,
    stream_seq   bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Messages a consumer gave up on after its last delivery, with the error, so an admin can see
-- them and re-drive them once the cause is fixed.
CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer    text        NOT NULL,
    stream      text        NOT NULL,
    stream_seq  bigint      NOT NULL,
    subject     text        NOT NULL,
    event_id    text        NOT NULL DEFAULT '',
    event_type  text        NOT NULL DEFAULT '',
    message     bytea       NOT NULL,
    error       text        NOT NULL,
    deliveries  integer     NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    redriven_at timestamptz,
    UNIQUE (consumer, stream, stream_seq)
);

CREATE INDEX dead_letters_open_idx ON dead_letters (parked_at DESC) WHERE redriven_at IS NULL;

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE processed_events;
