-- Frozen (0006, and 0007's downgrade): every 1-hour piece from the raw captures in [:start, :end].
-- The tables were created empty just before, so the application's ON CONFLICT clause is left out.
INSERT INTO capture_rollup_1h (bucket, room_id, sensor_type_id, count, sum, min, max, min_ts, max_ts, first_ts, first_value, last_ts, last_value, value_seconds, below_seconds, above_seconds, gap_seconds, gap_start)
SELECT s.bucket, s.room_id, s.sensor_type_id,
    CAST(count(*) AS integer) AS count, sum(s.value) AS sum,
    min(s.value) AS min, max(s.value) AS max,
    to_timestamp((min(ARRAY[s.value, s.at]))[2]) AS min_ts,
    to_timestamp(-(max(ARRAY[s.value, -s.at]))[2]) AS max_ts,
    min(s.ts) AS first_ts, (min(ARRAY[s.at, s.value]))[2] AS first_value,
    max(s.ts) AS last_ts, (max(ARRAY[s.at, s.value]))[2] AS last_value,
    COALESCE(sum(s.value * s.held), 0) AS value_seconds,
    COALESCE(sum(s.held) FILTER (WHERE s.value < st.comfort_low), 0) AS below_seconds,
    COALESCE(sum(s.held) FILTER (WHERE s.value > st.comfort_high), 0) AS above_seconds,
    COALESCE((max(ARRAY[s.held, -s.at]) FILTER (WHERE s.held IS NOT NULL))[1], 0)
        AS gap_seconds,
    COALESCE(to_timestamp(-(max(ARRAY[s.held, -s.at]) FILTER (WHERE s.held IS NOT NULL))[2]),
             min(s.ts)) AS gap_start
FROM (
    SELECT c.room_id, c.sensor_type_id, c.ts, c.value, date_part('epoch', c.ts) AS at,
           roomtemp_bucket(c.ts, interval '1 hour') AS bucket,
           date_part('epoch', LEAD(c.ts) OVER (
               PARTITION BY c.room_id, c.sensor_type_id,
                            roomtemp_bucket(c.ts, interval '1 hour')
               ORDER BY c.ts) - c.ts) AS held
    FROM capture c
    WHERE c.ts > roomtemp_bucket(CAST(:start AS timestamptz), interval '1 hour')
                 - interval '1 hour'
      AND c.ts <= roomtemp_bucket(CAST(:end AS timestamptz), interval '1 hour')
) AS s
JOIN sensor_type st ON st.id = s.sensor_type_id
GROUP BY s.room_id, s.sensor_type_id, s.bucket, st.comfort_low, st.comfort_high
ORDER BY s.room_id, s.sensor_type_id, s.bucket
