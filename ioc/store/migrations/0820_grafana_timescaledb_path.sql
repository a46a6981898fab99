-- TimescaleDB back end only (see the .timescale.sql beside this file).
SELECT 1;
