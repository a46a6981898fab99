-- Room on every page of the rollups for the updated row: an upsert of a (series, bucket) row that
-- exists changes no indexed column, so with free space on its page PostgreSQL updates it in place
-- (a HOT update: no new index entries, no page split). Most rollup writes are such updates (a series
-- reporting every 10 s updates its minute row 5 times in 6, its hour row 359 times in 360). Pages
-- written from now on get it.
ALTER TABLE samples_1m SET (fillfactor = 70);
ALTER TABLE samples_1h SET (fillfactor = 70);
