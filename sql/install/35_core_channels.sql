-- ff_engine install script: tenant-private completion channels.
--
-- PostgreSQL lets any role LISTEN on any channel, so a completion
-- notification is private only while its channel's name is.  Each
-- namespace's completions go to ff_completion_<HMAC of the namespace under a
-- per-database key>; ff.completion_channel tells a role the channel of a
-- namespace it may read, and nobody else can compute it.  The key is made
-- at install and kept by pg_dump (so channel names survive a restore).

CREATE TABLE ff.channel_key (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     bytea NOT NULL CHECK (octet_length(secret) >= 32)
);
INSERT INTO ff.channel_key (secret) VALUES (ff._random_secret());
SELECT pg_catalog.pg_extension_config_dump('ff.channel_key', '');
-- backends keep the key until it is written (a restore replaces it)
CREATE TRIGGER channel_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ff.channel_key
    FOR EACH STATEMENT EXECUTE FUNCTION ff._kept_table_changed();

CREATE FUNCTION ff.completion_channel(namespace text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'ff_completion_channel_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.completion_channel(text) IS
    'The NOTIFY channel of a namespace''s completions (EXECUTE format(''LISTEN %I'', ff.completion_channel(ns))); 42501 for a namespace the caller is not bound to';

-- A worker hears on its namespace's lease channel that a lease it holds was
-- lost to someone else (expired, revoked, cancelled, timed out, its
-- dependency failed, an operator's override): private as completion
-- channels are, and quiet unless something goes wrong.
CREATE FUNCTION ff.lease_channel(namespace text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'ff_lease_channel_sql' LANGUAGE C STABLE;
COMMENT ON FUNCTION ff.lease_channel(text) IS
    'The NOTIFY channel on which a namespace''s workers hear of leases lost ({"execution_id", "lease_epoch", "reason"}: a hint, to be checked by renewing); 42501 for a namespace the caller is not bound to';
