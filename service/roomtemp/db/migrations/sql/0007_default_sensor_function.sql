-- 0007: the default sensor of (room r, type t), made on first use by the mirror triggers.
CREATE FUNCTION roomtemp_0007_default_sensor(r integer, t smallint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    sid integer;
BEGIN
    SELECT id INTO sid FROM sensor WHERE default_room_id = r AND sensor_type_id = t;
    IF sid IS NULL THEN
        INSERT INTO sensor (sensor_type_id, default_room_id) VALUES (t, r)
        ON CONFLICT (default_room_id, sensor_type_id) DO NOTHING RETURNING id INTO sid;
        IF sid IS NULL THEN
            SELECT id INTO sid FROM sensor WHERE default_room_id = r AND sensor_type_id = t;
        ELSE
            INSERT INTO sensor_assignment (valid_from, sensor_id, room_id)
            VALUES ('-infinity', sid, r);
        END IF;
    END IF;
    RETURN sid;
END $$
