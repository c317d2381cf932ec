-- ff_engine install script: recurring schedules (issue 26).
--
-- A schedule is a row: a cron expression in a time zone (src/sched_cron.c
-- computes the slots), a template of the execution each slot creates, an
-- overlap policy, a catch-up policy, an end.  The `schedules` scanner
-- (ff.scan_schedules) locks due rows FOR UPDATE SKIP LOCKED and, in the
-- same transaction, creates each slot's execution and advances the row,
-- so two runners (engine workers, pg_cron) never fire a slot twice and a
-- crash loses none: the creation and the advance commit together.  The
-- slot is also in the execution's idempotency key
-- (ff:schedule:<schedule_id>:<slot_ms>) and in ff.schedule_firing.
-- Schedules are namespaced: a restricted caller sees and touches only its
-- namespaces' schedules (another tenant's reads as schedule_not_found).
-- A template may instead be a flow (flow_template: members, edges, edge
-- groups; ff._schedule_flow_check), created whole with the advance.  The scanner
-- reports the time to the next slot (next_in_ms); the engine worker wakes then.

CREATE TABLE ff.schedule (
    namespace           text NOT NULL,
    name                text NOT NULL,
    schedule_id         uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    cron                text NOT NULL,
    time_zone           text NOT NULL DEFAULT 'UTC',
    -- the template of what a firing creates
    lane_id             text NOT NULL DEFAULT 'default',
    execution_kind      text NOT NULL DEFAULT '',
    payload             bytea,
    policy_json         text,
    priority            bigint NOT NULL DEFAULT 0,
    tags                jsonb,
    flow_template       jsonb,   -- a flow instead of one execution (see ff._schedule_flow_check)
    -- policies
    overlap             text NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip', 'cancel_previous')),
    catch_up            text NOT NULL DEFAULT 'last' CHECK (catch_up IN ('all', 'last', 'none')),
    catch_up_window_ms  bigint NOT NULL DEFAULT 86400000 CHECK (catch_up_window_ms > 0),
    misfire_grace_ms    bigint NOT NULL DEFAULT 60000 CHECK (misfire_grace_ms >= 0),
    start_at            bigint,
    end_at              bigint,
    max_fires           bigint CHECK (max_fires > 0),
    paused              boolean NOT NULL DEFAULT false,
    -- what it did (NULL next_fire_at: finished)
    next_fire_at        bigint,
    last_fire_at        bigint,
    last_slot_at        bigint,
    last_execution_id   text,
    last_flow_id        uuid,
    fire_count          bigint NOT NULL DEFAULT 0,
    missed_count        bigint NOT NULL DEFAULT 0,
    skipped_count       bigint NOT NULL DEFAULT 0,
    last_error          text,
    created_at          bigint NOT NULL,
    updated_at          bigint NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX schedule_due_idx ON ff.schedule (next_fire_at) WHERE NOT paused AND next_fire_at IS NOT NULL;

-- One row per fired slot (manual: ff.trigger_schedule); trimmed by the
-- retention scanner after ff_engine.default_retention.
CREATE TABLE ff.schedule_firing (
    schedule_id   uuid NOT NULL,
    slot_at       bigint NOT NULL,
    manual        boolean NOT NULL DEFAULT false,
    execution_id  text NOT NULL,
    fired_at      bigint NOT NULL,
    PRIMARY KEY (schedule_id, slot_at, manual)
);
CREATE INDEX schedule_firing_fired_idx ON ff.schedule_firing (fired_at);

-- ---- cron ----

CREATE FUNCTION ff.cron_next_fire(expression text, time_zone text DEFAULT 'UTC', after_ms bigint DEFAULT NULL)
    RETURNS bigint AS 'MODULE_PATHNAME', 'ff_cron_next_fire_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.cron_next_fire(text, text, bigint) IS
    'The first slot of a cron expression in a time zone strictly after after_ms (default now); NULL when none within 9 years; 22023 for a bad expression or zone';

CREATE FUNCTION ff._cron_check(expression text, time_zone text) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_cron_check_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._cron_check(text, text) IS
    'Internal: checks a cron expression and a time zone (22023), returns the zone''s canonical name';

CREATE FUNCTION ff._cron_count(expression text, time_zone text, after_ms bigint, before_ms bigint, cap integer)
    RETURNS bigint AS 'MODULE_PATHNAME', 'ff_cron_count_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff._cron_count(text, text, bigint, bigint, integer) IS
    'Internal: how many slots lie strictly between after_ms and before_ms (at most cap)';

CREATE FUNCTION ff._cron_last(expression text, time_zone text, after_ms bigint, upto_ms bigint)
    RETURNS bigint AS 'MODULE_PATHNAME', 'ff_cron_last_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION ff._cron_last(text, text, bigint, bigint) IS
    'Internal: the latest slot in (after_ms, upto_ms], NULL when none';

CREATE FUNCTION ff._policy_problem(policy_json text) RETURNS text
    AS 'MODULE_PATHNAME', 'ff_policy_problem_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff._policy_problem(text) IS
    'Internal: NULL for a policy create_execution accepts, else its error and detail';

-- ---- checks shared by create and update ----

-- A flow template:
--   {"flow_kind": text,
--    "members": [{"key": text, "lane_id", "execution_kind", "payload" (text, stored UTF-8),
--                 "policy" (object), "priority" (integer), "tags" (object)}, ...],   1 to 1000
--    "edges": [{"from": key, "to": key, "dependency_kind": text (default success_only)}, ...],
--    "edge_groups": [{"downstream": key, "policy": "all_of" | "any_of" | "quorum",
--                     "on_satisfied": "cancel_remaining" | "let_run", "k": integer}, ...]}
-- A member's absent fields come from the schedule's template.  Edges form
-- no cycle; an edge group names a member with incoming edges, any_of and
-- quorum need on_satisfied, quorum a k between 1 and its incoming edges.
CREATE FUNCTION ff._schedule_flow_check(flow jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m jsonb;
    e jsonb;
    g jsonb;
    keys text[] := '{}';
    k text;
    bad text;
    n_in integer;
    left_ text[];
    progress boolean;
BEGIN
    IF flow IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(flow) <> 'object' THEN
        RAISE EXCEPTION 'a flow template is a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(x, ', ') INTO bad FROM jsonb_object_keys(flow) x
    WHERE x NOT IN ('flow_kind', 'members', 'edges', 'edge_groups');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'a flow template has unknown fields: %', bad USING ERRCODE = '22023';
    END IF;
    IF flow ? 'flow_kind' AND (jsonb_typeof(flow -> 'flow_kind') <> 'string' OR length(flow ->> 'flow_kind') > 256) THEN
        RAISE EXCEPTION 'flow_kind is a string of at most 256 bytes' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(flow -> 'members') IS DISTINCT FROM 'array' OR jsonb_array_length(flow -> 'members') NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'a flow template needs 1 to 1000 members' USING ERRCODE = '22023';
    END IF;
    FOR m IN SELECT value FROM jsonb_array_elements(flow -> 'members') LOOP
        IF jsonb_typeof(m) <> 'object' THEN
            RAISE EXCEPTION 'a flow member is a JSON object' USING ERRCODE = '22023';
        END IF;
        SELECT string_agg(x, ', ') INTO bad FROM jsonb_object_keys(m) x
        WHERE x NOT IN ('key', 'lane_id', 'execution_kind', 'payload', 'policy', 'priority', 'tags');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'a flow member has unknown fields: %', bad USING ERRCODE = '22023';
        END IF;
        k := m ->> 'key';
        IF jsonb_typeof(m -> 'key') IS DISTINCT FROM 'string' OR k = '' OR length(k) > 200 OR k ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'a flow member needs a key of 1 to 200 bytes' USING ERRCODE = '22023';
        END IF;
        IF k = ANY (keys) THEN
            RAISE EXCEPTION 'flow member key "%" appears twice', k USING ERRCODE = '22023';
        END IF;
        keys := keys || k;
        IF m ? 'lane_id' AND (jsonb_typeof(m -> 'lane_id') <> 'string' OR m ->> 'lane_id' = ''
                              OR length(m ->> 'lane_id') > 256 OR m ->> 'lane_id' ~ '[[:cntrl:]]') THEN
            RAISE EXCEPTION 'flow member "%": lane_id must be a non-empty lane id', k USING ERRCODE = '22023';
        END IF;
        IF m ? 'execution_kind' AND (jsonb_typeof(m -> 'execution_kind') <> 'string' OR length(m ->> 'execution_kind') > 256) THEN
            RAISE EXCEPTION 'flow member "%": execution_kind is a string of at most 256 bytes', k USING ERRCODE = '22023';
        END IF;
        IF m ? 'payload' AND jsonb_typeof(m -> 'payload') <> 'string' THEN
            RAISE EXCEPTION 'flow member "%": payload is a string', k USING ERRCODE = '22023';
        END IF;
        IF m ? 'priority' AND (jsonb_typeof(m -> 'priority') <> 'number' OR (m ->> 'priority') !~ '^-?[0-9]{1,18}$') THEN
            RAISE EXCEPTION 'flow member "%": priority is an integer', k USING ERRCODE = '22023';
        END IF;
        IF m ? 'tags' AND jsonb_typeof(m -> 'tags') <> 'object' THEN
            RAISE EXCEPTION 'flow member "%": tags must be a JSON object', k USING ERRCODE = '22023';
        END IF;
        IF m ? 'policy' THEN
            IF jsonb_typeof(m -> 'policy') <> 'object' THEN
                RAISE EXCEPTION 'flow member "%": policy is a JSON object', k USING ERRCODE = '22023';
            END IF;
            bad := ff._policy_problem((m -> 'policy')::text);
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'flow member "%": the policy is refused: %', k, bad USING ERRCODE = '22023';
            END IF;
        END IF;
    END LOOP;
    IF flow ? 'edges' AND jsonb_typeof(flow -> 'edges') <> 'array' THEN
        RAISE EXCEPTION 'edges is an array' USING ERRCODE = '22023';
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(coalesce(flow -> 'edges', '[]')) LOOP
        IF jsonb_typeof(e) <> 'object' OR NOT (e ->> 'from' = ANY (keys)) OR NOT (e ->> 'to' = ANY (keys))
           OR jsonb_typeof(e -> 'from') <> 'string' OR jsonb_typeof(e -> 'to') <> 'string' THEN
            RAISE EXCEPTION 'an edge names two member keys: %', e USING ERRCODE = '22023';
        END IF;
        SELECT string_agg(x, ', ') INTO bad FROM jsonb_object_keys(e) x WHERE x NOT IN ('from', 'to', 'dependency_kind');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'an edge has unknown fields: %', bad USING ERRCODE = '22023';
        END IF;
        IF e ->> 'from' = e ->> 'to' THEN
            RAISE EXCEPTION 'an edge from "%" to itself', e ->> 'from' USING ERRCODE = '22023';
        END IF;
        IF e ? 'dependency_kind' AND (jsonb_typeof(e -> 'dependency_kind') <> 'string' OR e ->> 'dependency_kind' = ''
                                      OR length(e ->> 'dependency_kind') > 256) THEN
            RAISE EXCEPTION 'dependency_kind is a non-empty string of at most 256 bytes' USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF (SELECT count(*) <> count(DISTINCT (x ->> 'from', x ->> 'to'))
        FROM jsonb_array_elements(coalesce(flow -> 'edges', '[]')) x) THEN
        RAISE EXCEPTION 'an edge appears twice' USING ERRCODE = '22023';
    END IF;
    -- no cycle: peel members without remaining upstreams until none is left
    left_ := keys;
    LOOP
        progress := false;
        FOREACH k IN ARRAY left_ LOOP
            IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(flow -> 'edges', '[]')) x
                           WHERE x ->> 'to' = k AND x ->> 'from' = ANY (left_)) THEN
                left_ := array_remove(left_, k);
                progress := true;
            END IF;
        END LOOP;
        EXIT WHEN NOT progress OR cardinality(left_) = 0;
    END LOOP;
    IF cardinality(left_) > 0 THEN
        RAISE EXCEPTION 'the flow template''s edges form a cycle through %', array_to_string(left_, ', ')
            USING ERRCODE = '22023';
    END IF;
    IF flow ? 'edge_groups' AND jsonb_typeof(flow -> 'edge_groups') <> 'array' THEN
        RAISE EXCEPTION 'edge_groups is an array' USING ERRCODE = '22023';
    END IF;
    FOR g IN SELECT value FROM jsonb_array_elements(coalesce(flow -> 'edge_groups', '[]')) LOOP
        IF jsonb_typeof(g) <> 'object' OR jsonb_typeof(g -> 'downstream') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'an edge group names its downstream member: %', g USING ERRCODE = '22023';
        END IF;
        SELECT string_agg(x, ', ') INTO bad FROM jsonb_object_keys(g) x
        WHERE x NOT IN ('downstream', 'policy', 'on_satisfied', 'k');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'an edge group has unknown fields: %', bad USING ERRCODE = '22023';
        END IF;
        SELECT count(*) INTO n_in FROM jsonb_array_elements(coalesce(flow -> 'edges', '[]')) x WHERE x ->> 'to' = g ->> 'downstream';
        IF n_in = 0 THEN
            RAISE EXCEPTION 'edge group of "%": no edge leads to it', g ->> 'downstream' USING ERRCODE = '22023';
        END IF;
        IF (SELECT count(*) FROM jsonb_array_elements(flow -> 'edge_groups') x WHERE x ->> 'downstream' = g ->> 'downstream') > 1 THEN
            RAISE EXCEPTION 'edge group of "%" appears twice', g ->> 'downstream' USING ERRCODE = '22023';
        END IF;
        IF coalesce(g ->> 'policy', '') NOT IN ('all_of', 'any_of', 'quorum') THEN
            RAISE EXCEPTION 'edge group of "%": policy must be all_of, any_of or quorum', g ->> 'downstream' USING ERRCODE = '22023';
        END IF;
        IF g ->> 'policy' = 'all_of' AND g ? 'on_satisfied' THEN
            RAISE EXCEPTION 'edge group of "%": all_of takes no on_satisfied', g ->> 'downstream' USING ERRCODE = '22023';
        END IF;
        IF g ->> 'policy' <> 'all_of' AND coalesce(g ->> 'on_satisfied', '') NOT IN ('cancel_remaining', 'let_run') THEN
            RAISE EXCEPTION 'edge group of "%": on_satisfied must be cancel_remaining or let_run', g ->> 'downstream'
                USING ERRCODE = '22023';
        END IF;
        IF g ->> 'policy' = 'quorum' AND (jsonb_typeof(g -> 'k') IS DISTINCT FROM 'number' OR (g ->> 'k') !~ '^[0-9]{1,9}$'
                                          OR (g ->> 'k')::integer NOT BETWEEN 1 AND n_in) THEN
            RAISE EXCEPTION 'edge group of "%": quorum needs a k between 1 and its % incoming edges', g ->> 'downstream', n_in
                USING ERRCODE = '22023';
        END IF;
        IF g ->> 'policy' <> 'quorum' AND g ? 'k' THEN
            RAISE EXCEPTION 'edge group of "%": only quorum takes k', g ->> 'downstream' USING ERRCODE = '22023';
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION ff._schedule_flow_check(jsonb) IS
    'Internal: checks a schedule''s flow template (members, edges without cycles, edge groups): 22023 when bad';

CREATE FUNCTION ff._schedule_check(s ff.schedule) RETURNS ff.schedule LANGUAGE plpgsql AS $$
DECLARE
    bad text;
BEGIN
    IF s.name IS NULL OR s.name = '' OR length(s.name) > 200 OR s.name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a schedule name is 1 to 200 bytes without control characters' USING ERRCODE = '22023';
    END IF;
    IF s.cron IS NULL THEN
        RAISE EXCEPTION 'a schedule needs a cron expression' USING ERRCODE = '22004';
    END IF;
    s.time_zone := ff._cron_check(s.cron, coalesce(s.time_zone, 'UTC'));
    IF s.lane_id IS NULL OR s.lane_id = '' OR length(s.lane_id) > 256 OR s.lane_id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'lane_id must be a non-empty lane id' USING ERRCODE = '22023';
    END IF;
    IF length(s.execution_kind) > 256 THEN
        RAISE EXCEPTION 'execution_kind is at most 256 bytes' USING ERRCODE = '22001';
    END IF;
    IF s.tags IS NOT NULL AND jsonb_typeof(s.tags) <> 'object' THEN
        RAISE EXCEPTION 'tags must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF s.overlap IS NULL OR s.overlap NOT IN ('allow', 'skip', 'cancel_previous') THEN
        RAISE EXCEPTION 'overlap must be allow, skip or cancel_previous, got %', coalesce(s.overlap, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF s.catch_up IS NULL OR s.catch_up NOT IN ('all', 'last', 'none') THEN
        RAISE EXCEPTION 'catch_up must be all, last or none, got %', coalesce(s.catch_up, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF s.catch_up_window_ms IS NULL OR s.catch_up_window_ms <= 0 THEN
        RAISE EXCEPTION 'catch_up_window_ms must be positive, got %', s.catch_up_window_ms USING ERRCODE = '22023';
    END IF;
    IF s.misfire_grace_ms IS NULL OR s.misfire_grace_ms < 0 THEN
        RAISE EXCEPTION 'misfire_grace_ms must not be negative, got %', s.misfire_grace_ms USING ERRCODE = '22023';
    END IF;
    IF s.max_fires IS NOT NULL AND s.max_fires <= 0 THEN
        RAISE EXCEPTION 'max_fires must be positive, got %', s.max_fires USING ERRCODE = '22023';
    END IF;
    IF s.end_at IS NOT NULL AND s.start_at IS NOT NULL AND s.end_at < s.start_at THEN
        RAISE EXCEPTION 'end_at is before start_at' USING ERRCODE = '22023';
    END IF;
    bad := ff._policy_problem(s.policy_json);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the schedule''s policy is refused: %', bad USING ERRCODE = '22023';
    END IF;
    PERFORM ff._schedule_flow_check(s.flow_template);
    IF s.payload IS NOT NULL AND octet_length(s.payload) > coalesce(
           (SELECT g.setting::bigint FROM pg_catalog.pg_settings g WHERE g.name = 'ff_engine.max_payload_bytes'), 1048576) THEN
        RAISE EXCEPTION 'payload is larger than ff_engine.max_payload_bytes' USING ERRCODE = '54000';
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION ff._schedule_check(ff.schedule) IS 'Internal: a schedule''s arguments checked (22023 and kin)';

-- The first slot at or after start (or after now): 22023 when it never fires.
CREATE FUNCTION ff._schedule_first(s ff.schedule, now_ bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t bigint := ff.cron_next_fire(s.cron, s.time_zone, greatest(now_, coalesce(s.start_at - 1, now_)));
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'cron expression "%" never fires in the next 9 years', s.cron USING ERRCODE = '22023',
            HINT = 'Check the day of month against the month (e.g. 30 February).';
    END IF;
    IF s.end_at IS NOT NULL AND t > s.end_at THEN
        RAISE EXCEPTION 'the schedule ends before its first slot' USING ERRCODE = '22023';
    END IF;
    RETURN t;
END $$;
COMMENT ON FUNCTION ff._schedule_first(ff.schedule, bigint) IS 'Internal: a schedule''s first slot';

-- ---- management ----

CREATE FUNCTION ff.create_schedule(name text, cron text, time_zone text DEFAULT 'UTC',
    lane_id text DEFAULT 'default', execution_kind text DEFAULT '', payload bytea DEFAULT NULL,
    policy_json text DEFAULT NULL, priority bigint DEFAULT 0, tags jsonb DEFAULT NULL,
    namespace text DEFAULT 'default', overlap text DEFAULT 'allow', catch_up text DEFAULT 'last',
    catch_up_window_ms bigint DEFAULT 86400000, misfire_grace_ms bigint DEFAULT 60000,
    start_at bigint DEFAULT NULL, end_at bigint DEFAULT NULL, max_fires bigint DEFAULT NULL,
    paused boolean DEFAULT false, flow jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff.now_ms();
    s ff.schedule;
BEGIN
    IF namespace IS NULL THEN
        RAISE EXCEPTION 'namespace is required' USING ERRCODE = '22004';
    END IF;
    IF (SELECT ff._namespaces()) IS NOT NULL AND NOT (create_schedule.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]))) THEN
        RAISE EXCEPTION 'namespace "%" is not granted to the calling role', create_schedule.namespace
            USING ERRCODE = '42501', HINT = 'An administrator grants it with ff.grant_namespace.';
    END IF;
    s.namespace := create_schedule.namespace;
    s.name := create_schedule.name;
    s.schedule_id := gen_random_uuid();
    s.cron := create_schedule.cron;
    s.time_zone := create_schedule.time_zone;
    s.lane_id := create_schedule.lane_id;
    s.execution_kind := coalesce(create_schedule.execution_kind, '');
    s.payload := create_schedule.payload;
    s.policy_json := create_schedule.policy_json;
    s.priority := coalesce(create_schedule.priority, 0);
    s.tags := create_schedule.tags;
    s.flow_template := create_schedule.flow;
    s.overlap := create_schedule.overlap;
    s.catch_up := create_schedule.catch_up;
    s.catch_up_window_ms := create_schedule.catch_up_window_ms;
    s.misfire_grace_ms := create_schedule.misfire_grace_ms;
    s.start_at := create_schedule.start_at;
    s.end_at := create_schedule.end_at;
    s.max_fires := create_schedule.max_fires;
    s.paused := coalesce(create_schedule.paused, false);
    s := ff._schedule_check(s);
    s.next_fire_at := ff._schedule_first(s, now_);
    s.fire_count := 0;
    s.missed_count := 0;
    s.skipped_count := 0;
    s.created_at := now_;
    s.updated_at := now_;
    INSERT INTO ff.schedule SELECT s.* ON CONFLICT ON CONSTRAINT schedule_pkey DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_exists', 'name', s.name);
    END IF;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'schedule_id', s.schedule_id,
                              'time_zone', s.time_zone, 'next_fire_at', s.next_fire_at);
END $$;
COMMENT ON FUNCTION ff.create_schedule(text, text, text, text, text, bytea, text, bigint, jsonb, text, text, text, bigint, bigint, bigint, bigint, bigint, boolean, jsonb) IS
    'Creates a recurring schedule in a namespace of the caller (flow: a flow template, each firing creates the flow): OK {schedule_id, time_zone, next_fire_at} or schedule_exists; a bad expression, zone, policy, limit or flow template is 22023, a namespace not granted 42501';

-- The caller's schedule, locked; NULL when absent or another tenant's.
CREATE FUNCTION ff._schedule_lock(name text, namespace text) RETURNS ff.schedule LANGUAGE plpgsql AS $$
DECLARE
    s ff.schedule;
BEGIN
    IF (SELECT ff._namespaces()) IS NOT NULL AND NOT coalesce(namespace = ANY (CAST((SELECT ff._namespaces()) AS text[])), false) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO s FROM ff.schedule x WHERE x.namespace = _schedule_lock.namespace AND x.name = _schedule_lock.name
    FOR UPDATE;
    RETURN s;
END $$;
COMMENT ON FUNCTION ff._schedule_lock(text, text) IS 'Internal: the caller''s schedule, locked (NULL when not visible)';

CREATE FUNCTION ff.update_schedule(name text, namespace text DEFAULT 'default', cron text DEFAULT NULL,
    time_zone text DEFAULT NULL, lane_id text DEFAULT NULL, execution_kind text DEFAULT NULL,
    payload bytea DEFAULT NULL, policy_json text DEFAULT NULL, priority bigint DEFAULT NULL,
    tags jsonb DEFAULT NULL, overlap text DEFAULT NULL, catch_up text DEFAULT NULL,
    catch_up_window_ms bigint DEFAULT NULL, misfire_grace_ms bigint DEFAULT NULL,
    start_at bigint DEFAULT NULL, end_at bigint DEFAULT NULL, max_fires bigint DEFAULT NULL,
    flow jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff.now_ms();
    s ff.schedule := ff._schedule_lock(name, namespace);
    timing boolean;
BEGIN
    IF s.schedule_id IS NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_not_found');
    END IF;
    timing := update_schedule.cron IS NOT NULL OR update_schedule.time_zone IS NOT NULL
              OR update_schedule.start_at IS NOT NULL OR update_schedule.end_at IS NOT NULL;
    s.cron := coalesce(update_schedule.cron, s.cron);
    s.time_zone := coalesce(update_schedule.time_zone, s.time_zone);
    s.lane_id := coalesce(update_schedule.lane_id, s.lane_id);
    s.execution_kind := coalesce(update_schedule.execution_kind, s.execution_kind);
    s.payload := coalesce(update_schedule.payload, s.payload);
    s.policy_json := coalesce(update_schedule.policy_json, s.policy_json);
    s.priority := coalesce(update_schedule.priority, s.priority);
    s.tags := coalesce(update_schedule.tags, s.tags);
    -- JSON null drops the flow template (firings create one execution again)
    IF update_schedule.flow IS NOT NULL THEN
        s.flow_template := CASE WHEN jsonb_typeof(update_schedule.flow) = 'null' THEN NULL ELSE update_schedule.flow END;
    END IF;
    s.overlap := coalesce(update_schedule.overlap, s.overlap);
    s.catch_up := coalesce(update_schedule.catch_up, s.catch_up);
    s.catch_up_window_ms := coalesce(update_schedule.catch_up_window_ms, s.catch_up_window_ms);
    s.misfire_grace_ms := coalesce(update_schedule.misfire_grace_ms, s.misfire_grace_ms);
    s.start_at := coalesce(update_schedule.start_at, s.start_at);
    s.end_at := coalesce(update_schedule.end_at, s.end_at);
    s.max_fires := coalesce(update_schedule.max_fires, s.max_fires);
    s := ff._schedule_check(s);
    -- a new timing starts from now: slots of the old timing are not owed
    IF timing THEN
        s.next_fire_at := ff._schedule_first(s, now_);
    END IF;
    UPDATE ff.schedule x SET cron = s.cron, time_zone = s.time_zone, lane_id = s.lane_id,
        execution_kind = s.execution_kind, payload = s.payload, policy_json = s.policy_json,
        priority = s.priority, tags = s.tags, flow_template = s.flow_template, overlap = s.overlap, catch_up = s.catch_up,
        catch_up_window_ms = s.catch_up_window_ms, misfire_grace_ms = s.misfire_grace_ms,
        start_at = s.start_at, end_at = s.end_at, max_fires = s.max_fires,
        next_fire_at = CASE WHEN s.max_fires IS NOT NULL AND x.fire_count >= s.max_fires THEN NULL
                            ELSE s.next_fire_at END,
        updated_at = now_
    WHERE x.schedule_id = s.schedule_id
    RETURNING x.next_fire_at INTO s.next_fire_at;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'next_fire_at', s.next_fire_at);
END $$;
COMMENT ON FUNCTION ff.update_schedule(text, text, text, text, text, text, bytea, text, bigint, jsonb, text, text, bigint, bigint, bigint, bigint, bigint, jsonb) IS
    'Changes a schedule''s given fields (NULL keeps one; flow => ''null'' drops the flow template); a new cron, zone, start or end recomputes the next slot from now: OK {next_fire_at} or schedule_not_found';

CREATE FUNCTION ff.pause_schedule(name text, namespace text DEFAULT 'default') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s ff.schedule := ff._schedule_lock(name, namespace);
BEGIN
    IF s.schedule_id IS NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_not_found');
    END IF;
    UPDATE ff.schedule x SET paused = true, updated_at = ff.now_ms() WHERE x.schedule_id = s.schedule_id;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', CASE WHEN s.paused THEN 'already_paused' ELSE 'paused' END);
END $$;
COMMENT ON FUNCTION ff.pause_schedule(text, text) IS
    'Pauses a schedule: no slot fires until it is resumed (slots in between are not owed)';

CREATE FUNCTION ff.resume_schedule(name text, namespace text DEFAULT 'default') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff.now_ms();
    s ff.schedule := ff._schedule_lock(name, namespace);
BEGIN
    IF s.schedule_id IS NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_not_found');
    END IF;
    IF NOT s.paused THEN
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'not_paused', 'next_fire_at', s.next_fire_at);
    END IF;
    -- the next slot after now (none for a finished schedule)
    IF s.next_fire_at IS NOT NULL THEN
        s.next_fire_at := ff.cron_next_fire(s.cron, s.time_zone, greatest(now_, coalesce(s.start_at - 1, now_)));
        IF s.end_at IS NOT NULL AND s.next_fire_at > s.end_at THEN
            s.next_fire_at := NULL;
        END IF;
    END IF;
    UPDATE ff.schedule x SET paused = false, next_fire_at = s.next_fire_at, updated_at = now_
    WHERE x.schedule_id = s.schedule_id;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'resumed', 'next_fire_at', s.next_fire_at);
END $$;
COMMENT ON FUNCTION ff.resume_schedule(text, text) IS
    'Resumes a paused schedule from the next slot after now: OK {result, next_fire_at} or schedule_not_found';

CREATE FUNCTION ff.delete_schedule(name text, namespace text DEFAULT 'default') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s ff.schedule := ff._schedule_lock(name, namespace);
BEGIN
    IF s.schedule_id IS NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_not_found');
    END IF;
    DELETE FROM ff.schedule_firing f WHERE f.schedule_id = s.schedule_id;
    DELETE FROM ff.schedule x WHERE x.schedule_id = s.schedule_id;
    RETURN jsonb_build_object('ok', true, 'status', 'OK', 'result', 'deleted');
END $$;
COMMENT ON FUNCTION ff.delete_schedule(text, text) IS
    'Deletes a schedule and its firing records (the executions it created stay)';

-- ---- firing ----

-- One firing of a flow template: the flow (its id derived from the
-- schedule and the slot, so a slot's flow exists once: a second try finds
-- it, ALREADY_SATISFIED, and creates nothing), its members (each with the
-- slot and its key in its idempotency key), edge groups, then edges; any
-- refusal raises, so nothing of the slot is left half made.
CREATE FUNCTION ff._schedule_fire_flow(s ff.schedule, slot bigint, now_ bigint, manual boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tpl jsonb := s.flow_template;
    key text := 'ff:schedule:' || s.schedule_id || CASE WHEN manual THEN ':manual:' ELSE ':' END || slot;
    f uuid := overlay(overlay(md5(key) placing '4' from 13) placing '8' from 17)::uuid;
    ids jsonb := '{}';
    first_ text;
    m jsonb;
    g jsonb;
    e jsonb;
    id text;
    r jsonb;
BEGIN
    IF tpl IS NULL THEN
        RETURN jsonb_build_object('fired', false, 'reason', 'no_flow_template');
    END IF;
    r := ff.create_flow(f, coalesce(tpl ->> 'flow_kind', ''), s.namespace);
    IF NOT (r ->> 'ok')::boolean THEN
        RETURN jsonb_build_object('fired', false, 'reason', r ->> 'error', 'detail', r);
    ELSIF r ->> 'status' <> 'OK' THEN
        RETURN jsonb_build_object('fired', false, 'reason', 'duplicate', 'flow_id', f,
            'execution_id', (SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.execution e
                             WHERE e.partition = ff.flow_partition(f) AND e.flow_id = f ORDER BY e.created_at, e.execution_id LIMIT 1));
    END IF;
    FOR m IN SELECT value FROM jsonb_array_elements(tpl -> 'members') LOOP
        id := ff.flow_member_execution_id(f);
        r := ff.create_execution(id, s.namespace, coalesce(m ->> 'lane_id', s.lane_id),
            coalesce(m ->> 'execution_kind', s.execution_kind), coalesce((m ->> 'priority')::bigint, s.priority),
            'schedule:' || s.name, coalesce((m -> 'policy')::text, s.policy_json),
            CASE WHEN m ? 'payload' THEN convert_to(m ->> 'payload', 'UTF8') ELSE s.payload END, NULL,
            key || ':' || (m ->> 'key'), 604800000,
            coalesce(s.tags, '{}') || coalesce(m -> 'tags', '{}')
                || jsonb_build_object('ff.schedule', s.name, 'ff.slot', slot::text, 'ff.member', m ->> 'key'));
        IF r ->> 'status' IS DISTINCT FROM 'OK' THEN
            RAISE EXCEPTION 'flow member "%" of schedule "%" was not created: %', m ->> 'key', s.name, r
                USING ERRCODE = '22023';
        END IF;
        r := ff.add_execution_to_flow(f, id);
        IF NOT (r ->> 'ok')::boolean THEN
            RAISE EXCEPTION 'flow member "%" of schedule "%" was not added: %', m ->> 'key', s.name, r USING ERRCODE = '22023';
        END IF;
        ids := ids || jsonb_build_object(m ->> 'key', id);
        first_ := coalesce(first_, id);
    END LOOP;
    -- a group's policy is set before the first edge into it
    FOR g IN SELECT value FROM jsonb_array_elements(coalesce(tpl -> 'edge_groups', '[]')) LOOP
        r := ff.set_edge_group_policy(f, ids ->> (g ->> 'downstream'), g ->> 'policy', g ->> 'on_satisfied', (g ->> 'k')::bigint);
        IF NOT (r ->> 'ok')::boolean THEN
            RAISE EXCEPTION 'edge group of "%" of schedule "%" was refused: %', g ->> 'downstream', s.name, r USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOR e IN SELECT value FROM jsonb_array_elements(coalesce(tpl -> 'edges', '[]')) LOOP
        r := ff.add_dependency(f, ids ->> (e ->> 'from'), ids ->> (e ->> 'to'), NULL,
                               coalesce(e ->> 'dependency_kind', 'success_only'));
        IF NOT (r ->> 'ok')::boolean THEN
            RAISE EXCEPTION 'edge % of schedule "%" was refused: %', e, s.name, r USING ERRCODE = '22023';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('fired', true, 'execution_id', first_, 'flow_id', f, 'members', ids);
END $$;
COMMENT ON FUNCTION ff._schedule_fire_flow(ff.schedule, bigint, bigint, boolean) IS
    'Internal: one firing of a flow template (the flow id derived from schedule and slot; members, edge groups, edges)';

-- One firing of s for slot: the overlap policy, then the execution.
-- {fired, execution_id} or {fired: false, reason}.
CREATE FUNCTION ff._schedule_fire(s ff.schedule, slot bigint, now_ bigint, manual boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    prev_phase text;
    r jsonb;
    id text;
BEGIN
    IF s.last_flow_id IS NOT NULL AND s.overlap <> 'allow' THEN
        -- a flow is running while any of its members is not terminal
        IF EXISTS (SELECT 1 FROM ff.execution e WHERE e.partition = ff.flow_partition(s.last_flow_id)
                   AND e.flow_id = s.last_flow_id AND e.lifecycle_phase <> 'terminal') THEN
            IF s.overlap = 'skip' THEN
                RETURN jsonb_build_object('fired', false, 'reason', 'overlap');
            END IF;
            r := ff.cancel_flow(s.last_flow_id, 'schedule_cancel_previous', 'cancel_all', 0, true);
            IF NOT (r ->> 'ok')::boolean THEN
                RETURN jsonb_build_object('fired', false, 'reason', 'cancel_previous_failed', 'detail', r);
            END IF;
        END IF;
    ELSIF s.last_execution_id IS NOT NULL AND s.overlap <> 'allow' THEN
        SELECT e.lifecycle_phase::text INTO prev_phase FROM ff.execution e, ff.parse_execution_id(s.last_execution_id) k
        WHERE e.partition = k.partition AND e.execution_id = k.execution_uuid;
        IF prev_phase IS NOT NULL AND prev_phase <> 'terminal' THEN
            IF s.overlap = 'skip' THEN
                RETURN jsonb_build_object('fired', false, 'reason', 'overlap');
            END IF;
            r := ff.cancel_execution(s.last_execution_id, 'schedule_cancel_previous', 'operator_override');
            IF NOT (r ->> 'ok')::boolean THEN
                RETURN jsonb_build_object('fired', false, 'reason', 'cancel_previous_failed', 'detail', r);
            END IF;
        END IF;
    END IF;
    IF s.flow_template IS NOT NULL THEN
        r := ff._schedule_fire_flow(s, slot, now_, manual);
        IF (r ->> 'fired')::boolean THEN
            INSERT INTO ff.schedule_firing (schedule_id, slot_at, manual, execution_id, fired_at)
            VALUES (s.schedule_id, slot, manual, r ->> 'execution_id', now_)
            ON CONFLICT ON CONSTRAINT schedule_firing_pkey DO NOTHING;
        END IF;
        RETURN r;
    END IF;
    r := ff.create_execution(ff.execution_id(s.lane_id), s.namespace, s.lane_id, s.execution_kind, s.priority,
        'schedule:' || s.name, s.policy_json, s.payload, NULL,
        'ff:schedule:' || s.schedule_id || CASE WHEN manual THEN ':manual:' ELSE ':' END || slot,
        604800000, coalesce(s.tags, '{}') || jsonb_build_object('ff.schedule', s.name, 'ff.slot', slot::text));
    IF NOT (r ->> 'ok')::boolean THEN
        RETURN jsonb_build_object('fired', false, 'reason', r ->> 'error', 'detail', r);
    END IF;
    id := r ->> 'execution_id';
    INSERT INTO ff.schedule_firing (schedule_id, slot_at, manual, execution_id, fired_at)
    VALUES (s.schedule_id, slot, manual, id, now_) ON CONFLICT ON CONSTRAINT schedule_firing_pkey DO NOTHING;
    -- a DUPLICATE is the slot's execution already there: not a second firing
    RETURN jsonb_build_object('fired', r ->> 'status' = 'OK', 'execution_id', id,
                              'reason', CASE WHEN r ->> 'status' <> 'OK' THEN 'duplicate' END);
END $$;
COMMENT ON FUNCTION ff._schedule_fire(ff.schedule, bigint, bigint, boolean) IS
    'Internal: one firing of a schedule (overlap policy, then create_execution with the slot in its idempotency key)';

-- Fires the due slots of a locked schedule row by its catch-up policy and
-- advances it; returns how many executions it created.  guarded: each
-- slot in its own subtransaction, a failing slot counted missed; unguarded
-- (the scanner's first try of a batch) an error propagates, which saves a
-- subtransaction per firing (the scanner then redoes the batch guarded).
CREATE FUNCTION ff._schedule_advance(s ff.schedule, now_ bigint, cap integer, guarded boolean DEFAULT true) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    slots bigint[] := '{}';
    t bigint := s.next_fire_at;
    last_ bigint;
    first_ bigint;
    slot bigint;
    missed bigint := 0;
    fired integer := 0;
    r jsonb;
    err text;
    st text;
    det text;
BEGIN
    IF t IS NULL OR t > now_ THEN
        RETURN 0;   -- not due (a row re-read after another runner advanced it)
    END IF;
    IF s.catch_up = 'all' THEN
        -- slots older than the window are missed
        IF t < now_ - s.catch_up_window_ms THEN
            first_ := ff.cron_next_fire(s.cron, s.time_zone, now_ - s.catch_up_window_ms - 1);
            missed := 1 + ff._cron_count(s.cron, s.time_zone, t, coalesce(least(first_, now_ + 1), now_ + 1), 100000);
            t := first_;
        END IF;
        WHILE t IS NOT NULL AND t <= now_ AND cardinality(slots) < cap LOOP
            slots := slots || t;
            t := ff.cron_next_fire(s.cron, s.time_zone, t);
        END LOOP;
    ELSE
        -- only the newest due slot may fire; those before it are missed
        last_ := coalesce(ff._cron_last(s.cron, s.time_zone, t - 1, now_), t);
        IF last_ > t THEN
            missed := 1 + ff._cron_count(s.cron, s.time_zone, t, last_, 100000);
        END IF;
        IF s.catch_up = 'none' AND now_ - last_ > s.misfire_grace_ms THEN
            missed := missed + 1;
        ELSE
            slots := ARRAY[last_];
        END IF;
        t := ff.cron_next_fire(s.cron, s.time_zone, last_);
    END IF;
    FOREACH slot IN ARRAY slots LOOP
        EXIT WHEN (s.end_at IS NOT NULL AND slot > s.end_at) OR (s.max_fires IS NOT NULL AND s.fire_count >= s.max_fires);
        IF guarded THEN
            BEGIN
                r := ff._schedule_fire(s, slot, now_, false);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
                r := jsonb_build_object('fired', false, 'reason', 'error', 'error', err);
                -- recorded as the scanner's failing item, without back-off:
                -- the slot is missed, the schedule keeps its cadence
                INSERT INTO ff.scanner_item_failure AS f (scanner, partition, item_id, failures, sqlstate, message,
                                                         detail, first_failed_at, last_failed_at)
                VALUES ('schedules', 0, s.schedule_id, 1, st, err, nullif(det, ''), now_, now_)
                ON CONFLICT (scanner, partition, item_id) DO UPDATE SET failures = f.failures + 1,
                    sqlstate = EXCLUDED.sqlstate, message = EXCLUDED.message, detail = EXCLUDED.detail,
                    last_failed_at = EXCLUDED.last_failed_at, skip_until_cycle = 0;
            END;

        ELSE
            r := ff._schedule_fire(s, slot, now_, false);
        END IF;
        IF (r ->> 'fired')::boolean THEN
            fired := fired + 1;
            s.fire_count := s.fire_count + 1;
            s.last_fire_at := now_;
            s.last_slot_at := slot;
            s.last_execution_id := r ->> 'execution_id';
            s.last_flow_id := (r ->> 'flow_id')::uuid;
            s.last_error := NULL;
        ELSIF r ->> 'reason' = 'overlap' THEN
            s.skipped_count := s.skipped_count + 1;
        ELSIF r ->> 'reason' = 'duplicate' THEN
            NULL;   -- already fired (by a manual trigger of the same key, or before)
        ELSE
            -- a slot that cannot fire is missed, never retried: it would block the rest
            missed := missed + 1;
            s.last_error := coalesce(r ->> 'error', r ->> 'reason');
            RAISE WARNING 'ff_engine schedule "%" (namespace "%") slot % failed: %', s.name, s.namespace, slot,
                s.last_error;
        END IF;
    END LOOP;
    IF t IS NOT NULL AND ((s.end_at IS NOT NULL AND t > s.end_at)
                          OR (s.max_fires IS NOT NULL AND s.fire_count >= s.max_fires)) THEN
        t := NULL;
    END IF;
    UPDATE ff.schedule x SET next_fire_at = t, fire_count = s.fire_count, missed_count = x.missed_count + missed,
        skipped_count = s.skipped_count, last_fire_at = s.last_fire_at, last_slot_at = s.last_slot_at,
        last_execution_id = s.last_execution_id, last_flow_id = s.last_flow_id, last_error = s.last_error,
        updated_at = now_
    WHERE x.schedule_id = s.schedule_id;
    RETURN fired;
END $$;
COMMENT ON FUNCTION ff._schedule_advance(ff.schedule, bigint, integer, boolean) IS
    'Internal: fires a locked schedule''s due slots by its catch-up policy and advances it (guarded: each slot in a subtransaction)';

-- the scanner: src/sched_scan.c, on the one batch runner (src/bgw_batch.c)
CREATE FUNCTION ff.scan_schedules(batch_size integer DEFAULT 1000, namespace text DEFAULT NULL)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ff_scan_schedules' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ff.scan_schedules(integer, text) IS
    'Fires the due slots of due schedules (at most ff_engine.schedule_catch_up_max per schedule), one batch (default 1 000; an error redoes it with each slot guarded); next_in_ms: until the next slot';

CREATE FUNCTION ff.trigger_schedule(name text, namespace text DEFAULT 'default') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    now_ bigint := ff.now_ms();
    s ff.schedule := ff._schedule_lock(name, namespace);
    r jsonb;
BEGIN
    IF s.schedule_id IS NULL THEN
        RETURN jsonb_build_object('ok', false, 'error', 'schedule_not_found');
    END IF;
    r := ff._schedule_fire(s, now_, now_, true);
    IF (r ->> 'fired')::boolean THEN
        UPDATE ff.schedule x SET fire_count = x.fire_count + 1, last_fire_at = now_,
            last_execution_id = r ->> 'execution_id', last_flow_id = (r ->> 'flow_id')::uuid, updated_at = now_
        WHERE x.schedule_id = s.schedule_id;
        RETURN jsonb_build_object('ok', true, 'status', 'OK', 'execution_id', r ->> 'execution_id')
            || CASE WHEN r ? 'flow_id' THEN jsonb_build_object('flow_id', r -> 'flow_id') ELSE '{}' END;
    ELSIF r ->> 'reason' = 'overlap' THEN
        RETURN jsonb_build_object('ok', false, 'error', 'overlap', 'detail', 'the previous firing is not terminal');
    ELSIF r ->> 'reason' = 'duplicate' THEN
        RETURN jsonb_build_object('ok', true, 'status', 'DUPLICATE', 'execution_id', r ->> 'execution_id');
    END IF;
    RETURN jsonb_build_object('ok', false, 'error', r ->> 'reason', 'detail', r -> 'detail');
END $$;
COMMENT ON FUNCTION ff.trigger_schedule(text, text) IS
    'Fires a schedule now (paused or not; the overlap policy applies), leaving its slots as they are: OK {execution_id}, overlap or schedule_not_found';

-- ---- reading ----

CREATE VIEW ff.schedules WITH (security_barrier) AS
SELECT s.namespace, s.name, s.schedule_id, s.cron, s.time_zone, s.lane_id, s.execution_kind, s.priority,
       s.tags, s.overlap, s.catch_up, s.catch_up_window_ms, s.misfire_grace_ms, s.start_at, s.end_at,
       s.max_fires, s.paused, s.next_fire_at, to_timestamp(s.next_fire_at / 1000.0) AS next_fire,
       s.last_fire_at, s.last_slot_at, s.last_execution_id, s.fire_count, s.missed_count, s.skipped_count,
       s.last_error, s.created_at, s.updated_at,
       CASE WHEN s.next_fire_at IS NULL THEN 'finished' WHEN s.paused THEN 'paused' ELSE 'active' END AS state,
       s.flow_template, s.last_flow_id
FROM ff.schedule s
WHERE (SELECT ff._namespaces()) IS NULL OR s.namespace = ANY (CAST((SELECT ff._namespaces()) AS text[]));
COMMENT ON VIEW ff.schedules IS
    'Schedules the caller may see: timing, template, policies, next and last firing, fire / missed / skipped counts, state (active, paused, finished)';

CREATE FUNCTION ff.list_schedules(namespace text DEFAULT NULL, after text DEFAULT NULL, "limit" integer DEFAULT 1000)
RETURNS SETOF ff.schedules LANGUAGE sql STABLE AS $$
    SELECT * FROM ff.schedules s
    WHERE ($1 IS NULL OR s.namespace = $1) AND ($2 IS NULL OR s.name > $2 COLLATE "C")
    ORDER BY s.namespace, s.name COLLATE "C"
    LIMIT least(greatest(coalesce($3, 1000), 1), 10000)
$$;
COMMENT ON FUNCTION ff.list_schedules(text, text, integer) IS
    'The caller''s schedules (of one namespace when given) by name (exclusive cursor; limit at most 10 000)';
