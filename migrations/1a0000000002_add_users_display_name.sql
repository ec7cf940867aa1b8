-- revision: 1a0000000002
-- down_revision: 1a0000000001
-- message: add users.display_name, nullable first

-- upgrade
-- Step 1 of 3 (expand): a nullable column is a metadata-only change, no table rewrite and only
-- a brief ACCESS EXCLUSIVE lock. Backfill and NOT NULL come in separate revisions.
ALTER TABLE users ADD COLUMN display_name TEXT;

-- downgrade
ALTER TABLE users DROP COLUMN display_name;
