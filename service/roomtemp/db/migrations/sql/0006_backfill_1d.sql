-- Frozen (0006, and 0007's downgrade): every 1-day piece merged from that day's 1-hour pieces.
INSERT INTO capture_rollup_1d (bucket, room_id, sensor_type_id, count, sum, min, max, min_ts, max_ts, first_ts, first_value, last_ts, last_value, value_seconds, below_seconds, above_seconds, gap_seconds, gap_start)
SELECT p.day, p.room_id, p.sensor_type_id,
    CAST(sum(p.count) AS integer) AS count, sum(p.sum) AS sum,
    min(p.min) AS min, max(p.max) AS max,
    to_timestamp((min(ARRAY[p.min, date_part('epoch', p.min_ts)]))[2]) AS min_ts,
    to_timestamp(-(max(ARRAY[p.max, -date_part('epoch', p.max_ts)]))[2]) AS max_ts,
    min(p.first_ts) AS first_ts,
    (min(ARRAY[date_part('epoch', p.first_ts), p.first_value]))[2] AS first_value,
    max(p.last_ts) AS last_ts,
    (max(ARRAY[date_part('epoch', p.last_ts), p.last_value]))[2] AS last_value,
    sum(p.value_seconds) + COALESCE(sum(p.last_value * p.seg), 0) AS value_seconds,
    sum(p.below_seconds) + COALESCE(sum(p.seg) FILTER (WHERE p.last_value < st.comfort_low), 0)
        AS below_seconds,
    sum(p.above_seconds) + COALESCE(sum(p.seg) FILTER (WHERE p.last_value > st.comfort_high), 0)
        AS above_seconds,
    (max(GREATEST(ARRAY[p.gap_seconds, -date_part('epoch', p.gap_start)],
                  ARRAY[COALESCE(p.seg, -1), -date_part('epoch', p.last_ts)])))[1]
        AS gap_seconds,
    to_timestamp(-(max(GREATEST(
        ARRAY[p.gap_seconds, -date_part('epoch', p.gap_start)],
        ARRAY[COALESCE(p.seg, -1), -date_part('epoch', p.last_ts)])))[2]) AS gap_start
FROM (
    SELECT h.*, roomtemp_bucket(h.bucket, interval '1 day') AS day,
           date_part('epoch', LEAD(h.first_ts) OVER (
               PARTITION BY h.room_id, h.sensor_type_id,
                            roomtemp_bucket(h.bucket, interval '1 day')
               ORDER BY h.bucket) - h.last_ts) AS seg
    FROM capture_rollup_1h h
    WHERE h.bucket > roomtemp_bucket(CAST(:start AS timestamptz), interval '1 day')
                     - interval '1 day'
      AND h.bucket <= roomtemp_bucket(CAST(:end AS timestamptz), interval '1 day')
) AS p
JOIN sensor_type st ON st.id = p.sensor_type_id
GROUP BY p.room_id, p.sensor_type_id, p.day, st.comfort_low, st.comfort_high
ORDER BY p.room_id, p.sensor_type_id, p.day
