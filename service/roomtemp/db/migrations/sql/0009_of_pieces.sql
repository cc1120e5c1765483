-- 0009 (frozen db/pieces.py OF_PIECES): the columns of pieces p(<columns>, seg) of one (room, sensor)
-- merged.
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
to_timestamp(-(max(GREATEST(ARRAY[p.gap_seconds, -date_part('epoch', p.gap_start)],
                            ARRAY[COALESCE(p.seg, -1), -date_part('epoch', p.last_ts)])))[2])
    AS gap_start
