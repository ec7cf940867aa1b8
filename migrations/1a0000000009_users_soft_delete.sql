-- revision: 1a0000000009
-- down_revision: 1a0000000008
-- message: soft-delete users; email unique among active users only

-- upgrade
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
-- A deleted user's email may be used again: uniqueness only WHERE deleted_at IS NULL.
CREATE UNIQUE INDEX users_email_active_key ON users (lower(email)) WHERE deleted_at IS NULL;
DROP INDEX users_email_key;

-- downgrade
-- Fails (and rolls back) if a deleted and an active user share an email: resolve those first.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
DROP INDEX users_email_active_key;
ALTER TABLE users DROP COLUMN deleted_at;
