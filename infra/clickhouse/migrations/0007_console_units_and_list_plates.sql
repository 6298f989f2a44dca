-- The dispatch console (policy 820.8): an officer sees the hits of their own mobile unit (the
-- camera id of the unit's system, set by an admin), and a hit keeps the plate or pattern as it stood
-- on the hot list, so the card can set the read beside it long after the list changed.
ALTER TABLE {db}.users ADD COLUMN IF NOT EXISTS unit String DEFAULT '' AFTER rank;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS list_plate String DEFAULT '' AFTER matched_plate;
