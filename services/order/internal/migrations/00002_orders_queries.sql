-- +goose Up
-- The aggregate version, carried in each event's aggregateversion.
ALTER TABLE orders ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- Admin list and export: username search (exact or partial, case-insensitive) through a
-- trigram index, sorting by username.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA orders;
CREATE INDEX orders_username_trgm_idx ON orders USING gin (lower(username) gin_trgm_ops);
CREATE INDEX orders_username_created_idx ON orders (lower(username), created_at DESC);

-- Idempotency-Key: the first order a user created with a key, and the hash of the request,
-- so a retry returns that order and a different request with the same key is refused.
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    order_id     uuid        NOT NULL REFERENCES orders (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP INDEX orders_username_created_idx;
DROP INDEX orders_username_trgm_idx;
ALTER TABLE orders DROP COLUMN version;
