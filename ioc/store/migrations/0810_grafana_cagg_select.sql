-- TimescaleDB back end only (see the .timescale.sql beside this file): the plain rollups are tables the
-- views of ioc_views read with their owner's privileges.
SELECT 1;
