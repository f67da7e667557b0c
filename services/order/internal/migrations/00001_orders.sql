-- +goose Up
-- Orders placed by users and decided by admins. user_id and username are copied from the
-- verified token at creation: the order service never reads the auth schema.
CREATE TABLE orders (
    id                uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL,
    username          text        NOT NULL,
    item_name         text        NOT NULL CHECK (length(item_name) BETWEEN 1 AND 255),
    quantity          integer     NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    notes             text        NOT NULL DEFAULT '' CHECK (length(notes) <= 1000),
    status            text        NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    admin_id          uuid,
    admin_username    text,
    admin_action_at   timestamptz,
    CHECK ((status = 'pending') = (admin_id IS NULL))
);

CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC);

-- +goose Down
DROP TABLE orders;
