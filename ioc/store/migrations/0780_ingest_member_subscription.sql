-- Which prefix subscription each ingest member's session holds (contract section 11): `shared`, or
-- `plain` while it is the only member (Mosquitto keeps a session's plain subscriptions over its restart,
-- not its shared ones). A member that joins waits until no running member holds a plain one, and drains
-- a stopped member's session that does; NULL for rows of a version that did not record it (shared).

ALTER TABLE ingest_members
    ADD COLUMN subscription text CHECK (subscription IN ('shared', 'plain'));
