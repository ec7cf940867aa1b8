-- revision: 1a0000000001
-- down_revision: none
-- message: create users with a unique, case-insensitive email

-- upgrade
CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The unique index is also the lookup index for sign-in (WHERE lower(email) = ...).
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- downgrade
DROP TABLE users;
