-- revision: 1a0000000004
-- down_revision: 1a0000000003
-- message: make users.display_name NOT NULL

-- upgrade
-- Step 3 of 3: every row has a value now. The UPDATE catches rows that app instances still
-- running the previous version inserted after the backfill's last batch; it is normally empty.
-- (On very large tables, add a CHECK ... NOT VALID, VALIDATE it, then SET NOT NULL, so the full
-- scan runs without an exclusive lock.)
UPDATE users SET display_name = split_part(email, '@', 1) WHERE display_name IS NULL;
ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;

-- downgrade
ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL;
