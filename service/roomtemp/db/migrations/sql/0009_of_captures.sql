-- 0009 (frozen db/pieces.py OF_CAPTURES): the columns of a piece of captures s(ts, value, at, held).
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
