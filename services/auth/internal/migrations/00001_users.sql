-- +goose Up
-- Users of the system. Usernames are stored lower-case, so uniqueness ignores case.
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL UNIQUE
                              CHECK (username ~ '^[a-z0-9_]{4,20}$'),
    password_hash text        NOT NULL CHECK (length(password_hash) = 60),
    is_admin      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login    timestamptz
);

-- +goose Down
DROP TABLE users;
