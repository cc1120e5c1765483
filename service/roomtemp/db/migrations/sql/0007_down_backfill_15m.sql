-- 0007 downgrade: the 15-minute rollups of the 0006 shape, from the captures kept (frozen 0004).
INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, sensor_type_id)
SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, SUM(value), MIN(value),
       MAX(value), COUNT(*), room_id, sensor_type_id
FROM capture GROUP BY room_id, sensor_type_id, b
