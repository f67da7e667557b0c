-- +goose Up
-- What a replay left out: messages that cannot be applied (undecodable, or refused by the
-- database, such as ids that are not UUIDs), which the live consumers park the same way.
ALTER TABLE replay_runs
    ADD COLUMN skipped          bigint NOT NULL DEFAULT 0,
    ADD COLUMN skipped_messages jsonb;

-- +goose Down
ALTER TABLE replay_runs DROP COLUMN skipped_messages, DROP COLUMN skipped;
