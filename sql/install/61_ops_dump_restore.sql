-- ff_engine install script: what pg_dump must carry (issue 27).
--
-- pg_dump writes the rows of the tables marked here and pg_restore loads
-- them after its CREATE EXTENSION, which has already made this database's
-- own singletons: a random completion-channel key, a random waitpoint key
-- k1, the default partition counts.  The trigger below lets a restored row
-- take the place of the install-made one it collides with, so the dumped
-- keys (and so the channel names and every waitpoint token) and the
-- partition counts (which place budgets and quotas) come back as they were.
-- No operation inserts a colliding row: the channel key and the partition
-- counts are only updated, and a key rotation first demotes the current
-- waitpoint key (re-inserting an older kid keeps its secret).

CREATE FUNCTION ff._restore_replaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'channel_key' THEN
        DELETE FROM ff.channel_key;
    ELSIF TG_TABLE_NAME = 'partition_config' THEN
        DELETE FROM ff.partition_config;
    ELSIF TG_TABLE_NAME = 'waitpoint_hmac_key' THEN
        DELETE FROM ff.waitpoint_hmac_key k WHERE k.kid = NEW.kid OR (NEW.is_current AND k.is_current);
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION ff._restore_replaces() IS
    'Internal (trigger): a row inserted into a singleton or the waitpoint keystore replaces the one it collides with (pg_restore over CREATE EXTENSION''s defaults)';

CREATE TRIGGER restore_replaces BEFORE INSERT ON ff.channel_key
    FOR EACH ROW EXECUTE FUNCTION ff._restore_replaces();
CREATE TRIGGER restore_replaces BEFORE INSERT ON ff.partition_config
    FOR EACH ROW EXECUTE FUNCTION ff._restore_replaces();
CREATE TRIGGER restore_replaces BEFORE INSERT ON ff.waitpoint_hmac_key
    FOR EACH ROW EXECUTE FUNCTION ff._restore_replaces();

-- Configuration and registrations not marked elsewhere.  The scanners'
-- bookkeeping (ff.scanner_state, ff.scanner_item_failure) is not carried:
-- it starts over in the restored database.
SELECT pg_catalog.pg_extension_config_dump('ff.partition_config', '');
SELECT pg_catalog.pg_extension_config_dump('ff.worker', '');
SELECT pg_catalog.pg_extension_config_dump('ff.sibling_cancel_stat', '');
-- The event ids go on from where they were (identity sequences).
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ff.completion_event', 'event_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('ff.signal_event', 'event_id'), '');
-- Schedules are configuration users create; their firing records go with
-- the executions they created (issue 26).
SELECT pg_catalog.pg_extension_config_dump('ff.schedule', '');
SELECT pg_catalog.pg_extension_config_dump('ff.schedule_firing', '');
