-- Plain back end only (see the .plain.sql beside this file); TimescaleDB keeps its own aggregates.
SELECT 1;
