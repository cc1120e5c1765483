-- 0007: default sensors of the (room, type) pairs of {source} (a table name from the catalog),
-- created where missing; ON CONFLICT makes it safe against the mirror trigger creating the same one.
WITH made AS (
    INSERT INTO sensor (sensor_type_id, default_room_id)
    SELECT DISTINCT sensor_type_id, room_id FROM {source} ORDER BY room_id, sensor_type_id
    ON CONFLICT (default_room_id, sensor_type_id) DO NOTHING
    RETURNING id, default_room_id
)
INSERT INTO sensor_assignment (valid_from, sensor_id, room_id)
SELECT '-infinity', id, default_room_id FROM made
