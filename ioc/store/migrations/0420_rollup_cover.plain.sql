CREATE INDEX samples_1m_series_cover ON samples_1m (series_id, bucket) INCLUDE (cnt, total, min_value, max_value);
CREATE INDEX samples_1h_series_cover ON samples_1h (series_id, bucket) INCLUDE (cnt, total, min_value, max_value);
