-- +goose Up
-- The orders view: one row per order, from OrderCreated and the decision events. Columns an
-- event has not filled yet (a decision seen before its creation) stay NULL; version is the
-- aggregate version last applied, so a stale or repeated event changes nothing.
CREATE TABLE orders_view (
    order_id          uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL,
    username          text,
    status            text        NOT NULL,
    created_at        timestamptz,
    decided_at        timestamptz,
    decided_by_id     uuid,
    decided_by        text,
    version           bigint      NOT NULL
);
CREATE INDEX orders_view_created_idx ON orders_view (created_at);

-- The users view: one row per registered account, from UserRegistered.
CREATE TABLE users_view (
    user_id       uuid        PRIMARY KEY,
    username      text        NOT NULL,
    is_admin      boolean     NOT NULL,
    registered_at timestamptz NOT NULL
);

-- Audit log filters by actor (username or id).
CREATE INDEX audit_log_actor_idx ON audit_log (lower(actor_username), occurred_at DESC);

-- Every replay, with its progress and outcome, for the admin page.
CREATE TABLE replay_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection  text        NOT NULL,
    state       text        NOT NULL,  -- running, done, failed
    done        bigint      NOT NULL DEFAULT 0,
    total       bigint      NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    differences jsonb,
    error       text
);

-- +goose Down
DROP TABLE replay_runs;
DROP TABLE users_view;
DROP TABLE orders_view;
