-- A password set by `alpr users break-glass` (root knows it): the user must change it at the next
-- logon, and until then the session may do nothing else (alpr.access).
ALTER TABLE {db}.users ADD COLUMN IF NOT EXISTS must_change_password UInt8 DEFAULT 0 AFTER locked;
