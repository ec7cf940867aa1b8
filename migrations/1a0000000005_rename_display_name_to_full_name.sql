-- revision: 1a0000000005
-- down_revision: 1a0000000004
-- message: rename users.display_name to full_name

-- upgrade
ALTER TABLE users RENAME COLUMN display_name TO full_name;

-- downgrade
ALTER TABLE users RENAME COLUMN full_name TO display_name;
