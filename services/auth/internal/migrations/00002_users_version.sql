-- +goose Up
-- The aggregate version of each user: incremented by every event about the user, and carried
-- in the event's aggregateversion so consumers can ignore stale deliveries.
ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE users DROP COLUMN version;
