-- The core row's store (issue 21; src/exec_core_write.c): a transition
-- writes the new version where its locking read found the row, through the
-- executor's single-row path, not by an UPDATE statement by key.  The
-- statement by key remains for a row it cannot place; the test-only
-- ff_engine.test_store_by_key sends every store that way.  Both ways must
-- leave the same rows, honour row triggers and keep the invariants.
BEGIN;
\ir helpers.psql

SELECT t.at(1000000000000);

-- one scenario on executions base+1 .. base+4 of lane `lane`: two claimed
-- and completed as a batch, one claimed alone, renewed and failed into a
-- retry, one cancelled while waiting
CREATE FUNCTION t.scenario(base integer, lane text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE ids text[]; lids uuid[]; eps bigint[]; aids uuid[];
BEGIN
    PERFORM ff.create_execution(t.id(base + i), lane_id => lane, priority => 10 - i,
                                policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 0}}}')
    FROM generate_series(1, 4) i;
    SELECT array_agg(c.claim->>'execution_id'), array_agg((c.claim->>'lease_id')::uuid),
           array_agg((c.claim->>'lease_epoch')::bigint), array_agg((c.claim->>'attempt_id')::uuid)
    INTO ids, lids, eps, aids
    FROM ff.claim_next(lane, 'w', 'w-1', max_count => 2) c;
    PERFORM ff.complete_executions(ids, lids, eps, aids, ARRAY['a', 'b']::bytea[]);
    PERFORM t.claim(t.id(base + 3));
    PERFORM t.renew(t.id(base + 3), 60000);
    PERFORM t.fail(t.id(base + 3));
    PERFORM ff.cancel_execution(t.id(base + 4), 'no longer needed', 'operator_override');
END $$;
-- what the scenario leaves, ids and fences aside
CREATE FUNCTION t.outcome(base integer) RETURNS TABLE (k integer, public_state text, lifecycle_phase text,
    ownership_state text, attempt_state text, total_attempt_count integer, retry_count integer,
    current_lease_epoch bigint, lease_expires_at bigint, completed_at bigint, failure_reason text,
    cancellation_reason text, result bytea) LANGUAGE sql AS $$
    SELECT i, e.public_state::text, e.lifecycle_phase::text, e.ownership_state::text, e.attempt_state::text,
           e.total_attempt_count, e.retry_count, e.current_lease_epoch, e.lease_expires_at, e.completed_at,
           e.failure_reason, e.cancellation_reason,
           (SELECT d.result FROM ff.execution_data d WHERE d.partition = (ff.parse_execution_id(e.id)).partition
                AND d.execution_id = t.exec_uuid(e.id))
    FROM generate_series(1, 4) i, t.row(t.id(base + i)) e
$$;
CREATE FUNCTION t.stores_by_key() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM ff._engine_statements() WHERE statement LIKE 'UPDATE ff.execution SET %'
$$;

-- the test setting is a superuser's: a worker (or an admin) cannot set it
CREATE ROLE t_store_worker IN ROLE ff_worker;
CREATE ROLE t_store_admin IN ROLE ff_admin;
SET LOCAL ROLE t_store_worker;
SELECT throws_ok($$SET ff_engine.test_store_by_key = on$$, '42501', NULL,
                 'a worker cannot send the stores by key');
RESET ROLE;
SET LOCAL ROLE t_store_admin;
SELECT throws_ok($$SET ff_engine.test_store_by_key = on$$, '42501', NULL, 'nor can an ff_admin');
RESET ROLE;

-- where the read found it
SELECT t.scenario(100, 'located');
SELECT is(t.stores_by_key(), 0::bigint, 'every store of the scenario wrote the row where it was read: no statement by key');
SELECT results_eq($$SELECT public_state FROM t.outcome(100) ORDER BY k$$,
                  ARRAY['completed', 'completed', 'delayed', 'cancelled'],
                  'the scenario''s states: two completed as a batch, a retry delayed, a cancel');

-- by key, the same scenario
SET LOCAL ff_engine.test_store_by_key = on;
SELECT t.scenario(200, 'by_key');
SELECT cmp_ok(t.stores_by_key(), '=', 1::bigint, 'with ff_engine.test_store_by_key the stores went by key');
RESET ff_engine.test_store_by_key;
SELECT results_eq($$SELECT * FROM t.outcome(200) ORDER BY k$$, $$SELECT * FROM t.outcome(100) ORDER BY k$$,
                  'both ways leave the same rows (states, counts, epochs, timers, reasons, results)');
SELECT * FROM t.invariants('both ways of storing');

-- row triggers fire on the located write as on the UPDATE: a BEFORE trigger's
-- change of NEW is stored, its refusal is the call's error
CREATE FUNCTION t.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.progress_message := 'seen by a row trigger'; RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.stamp();
SELECT ff.create_execution(t.id(301), lane_id => 'trig');
SELECT is(t.claim(t.id(301)) ->> 'ok', 'true', 'a claim under a BEFORE UPDATE trigger');
SELECT is((t.row(t.id(301))).progress_message, 'seen by a row trigger', 'the trigger''s NEW is what was stored');
DROP TRIGGER stamp ON ff.execution;
CREATE FUNCTION t.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused by a row trigger' USING ERRCODE = 'P0001'; END $$;
CREATE TRIGGER refuse BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT throws_ok($$SELECT t.complete(t.id(301))$$, 'P0001', 'refused by a row trigger',
                 'a BEFORE UPDATE trigger''s error is the complete''s error');
DROP TRIGGER refuse ON ff.execution;
-- a trigger that skips the row (returns NULL): the store wrote nothing, and
-- says so the same both ways
CREATE FUNCTION t.skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER skip BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.skip();
SELECT throws_ok($$SELECT t.complete(t.id(301))$$, 'XX000', 'execution row vanished while locked',
                 'a row a trigger skipped is reported, located');
SET LOCAL ff_engine.test_store_by_key = on;
SELECT throws_ok($$SELECT t.complete(t.id(301))$$, 'XX000', 'execution row vanished while locked',
                 'and by key');
RESET ff_engine.test_store_by_key;
DROP TRIGGER skip ON ff.execution;
SELECT is(t.complete(t.id(301)) ->> 'result', 'completed', 'without triggers the complete goes through');
SELECT is((t.row(t.id(301))).public_state::text, 'completed', 'and is stored');

-- a write undone with its savepoint leaves the row as it was read; the
-- next transition finds and writes that version
SELECT ff.create_execution(t.id(601), lane_id => 'sp');
SAVEPOINT before_claim;
SELECT is(t.claim(t.id(601)) ->> 'ok', 'true', 'a claim inside a savepoint');
ROLLBACK TO SAVEPOINT before_claim;
SELECT is((t.row(t.id(601))).public_state::text, 'waiting', 'rolled back with the savepoint: waiting again');
SELECT is(t.claim(t.id(601)) ->> 'lease_epoch', '1', 'claimed again at epoch 1: the undone claim left nothing');
SELECT is(t.complete(t.id(601)) ->> 'result', 'completed', 'and completed');

-- a batch of creates reads as the same creates one by one: every column,
-- ids aside (capabilities, policy-derived columns, delay, priority)
CREATE FUNCTION t.core_row(id text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb(x) - 'execution_id' - 'partition' FROM ff.execution x
    WHERE x.partition = (ff.parse_execution_id(id)).partition AND x.execution_id = t.exec_uuid(id)
$$;
SELECT t.at(1000000100000);
SELECT ff.create_execution(t.id(400 + i), lane_id => 'bulk', namespace => 'ns1', priority => 7,
                           policy_json => p, delay_until => d)
FROM (VALUES (1, '{"routing_requirements": {"required_capabilities": ["gpu", "ssd"]}}', NULL::bigint),
             (2, NULL, 1000000200000)) v(i, p, d);
SELECT ff.create_executions(ARRAY[t.id(500 + 1)], 'bulk', NULL, 'ns1', 7,
                            '{"routing_requirements": {"required_capabilities": ["gpu", "ssd"]}}') ->> 'count';
SELECT ff.create_executions(ARRAY[t.id(500 + 2)], 'bulk', NULL, 'ns1', 7, NULL, 1000000200000) ->> 'count';
SELECT is(t.core_row(t.id(501)), t.core_row(t.id(401)),
          'a batch-created row with required capabilities equals the single create''s');
SELECT is(t.core_row(t.id(502)), t.core_row(t.id(402)), 'and a delayed one');
SELECT is((t.core_row(t.id(501)) -> 'required_capabilities'), '["gpu", "ssd"]'::jsonb,
          'the capabilities are stored as an array');
-- a batch's rows go through row triggers too (the test-only invariants
-- trigger counts every transition; a refusing trigger refuses the batch)
CREATE TRIGGER refuse_insert BEFORE INSERT ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT throws_ok($$SELECT ff.create_executions(ARRAY[t.id(503), t.id(504)], 'bulk')$$, 'P0001',
                 'refused by a row trigger', 'a BEFORE INSERT trigger''s error is the batch''s error');
DROP TRIGGER refuse_insert ON ff.execution;
SELECT is((SELECT count(*) FROM ff.execution WHERE lane_id = 'bulk')::int, 4, 'and the refused batch wrote nothing');
SELECT * FROM t.invariants('batch creates');

-- a single create inserts its row without a statement (ff_core_write_insert):
-- the same row as the statement's (the test-only setting sends it there),
-- row triggers and constraints as an INSERT has them
SET LOCAL ff_engine.test_store_by_key = on;
SELECT ff.create_execution(t.id(403), lane_id => 'bulk', namespace => 'ns1', priority => 7,
    policy_json => '{"routing_requirements": {"required_capabilities": ["gpu", "ssd"]}}');
SELECT ff.create_executions(ARRAY[t.id(503), t.id(504)], 'bulk', NULL, 'ns1', 7,
                            '{"routing_requirements": {"required_capabilities": ["gpu", "ssd"]}}') ->> 'count';
SET LOCAL ff_engine.test_store_by_key = off;
SELECT is(t.core_row(t.id(403)), t.core_row(t.id(401)),
          'a create inserted by the statement equals the one inserted directly');
SELECT is(t.core_row(t.id(503)), t.core_row(t.id(501)),
          'a batch''s create inserted by its set statement equals the one inserted directly');
CREATE FUNCTION t.stamp_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.progress_message := 'seen by an insert trigger'; RETURN NEW; END $$;
CREATE TRIGGER stamp_insert BEFORE INSERT ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.stamp_insert();
CREATE TABLE t.inserted_log (id uuid);
CREATE FUNCTION t.log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO t.inserted_log VALUES (NEW.execution_id); RETURN NULL; END $$;
CREATE TRIGGER log_insert AFTER INSERT ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.log_insert();
SELECT is(ff.create_execution(t.id(404), lane_id => 'bulk') ->> 'status', 'OK', 'a create under BEFORE and AFTER INSERT triggers');
SELECT is((t.row(t.id(404))).progress_message, 'seen by an insert trigger', 'the BEFORE trigger''s NEW is what was inserted');
SELECT is((SELECT count(*)::int FROM t.inserted_log WHERE id = t.exec_uuid(t.id(404))), 1, 'the AFTER trigger saw the row once');
SELECT is(ff.create_executions(ARRAY[t.id(408), t.id(407)], 'bulk') ->> 'succeeded', '2', 'a batch of creates under the same triggers');
SELECT is((SELECT array_agg(progress_message) FROM ff.execution WHERE execution_id IN (t.exec_uuid(t.id(407)), t.exec_uuid(t.id(408)))),
          ARRAY['seen by an insert trigger', 'seen by an insert trigger'], 'each row of the batch is the BEFORE trigger''s NEW');
SELECT is((SELECT count(*)::int FROM t.inserted_log WHERE id IN (t.exec_uuid(t.id(407)), t.exec_uuid(t.id(408)))), 2,
          'the AFTER trigger saw each row of the batch once');
DROP TRIGGER stamp_insert ON ff.execution;
DROP TRIGGER log_insert ON ff.execution;
CREATE TRIGGER refuse_insert BEFORE INSERT ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT throws_ok($$SELECT ff.create_execution(t.id(405), lane_id => 'bulk')$$, 'P0001',
                 'refused by a row trigger', 'a BEFORE INSERT trigger''s error is the create''s error');
DROP TRIGGER refuse_insert ON ff.execution;
ALTER TABLE ff.execution ADD CONSTRAINT t_small_priority CHECK (priority < 100);
SELECT throws_ok($$SELECT ff.create_execution(t.id(405), lane_id => 'bulk', priority => 200)$$, '23514', NULL,
                 'a check constraint of the table refuses the create');
ALTER TABLE ff.execution DROP CONSTRAINT t_small_priority;
SELECT is((SELECT count(*)::int FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(405))), 0,
          'the refused creates wrote nothing');
-- what only a statement does sends the write to its statement: statement
-- triggers fire, transition tables are there, a constraint reads tableoid
CREATE TABLE t.stmt_log (what text, n bigint);
CREATE FUNCTION t.log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO t.stmt_log SELECT TG_OP, count(*) FROM changed; RETURN NULL; END $$;
CREATE TRIGGER log_stmt_ins AFTER INSERT ON ff.execution REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION t.log_stmt();
CREATE TRIGGER log_stmt_upd AFTER UPDATE ON ff.execution REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION t.log_stmt();
SELECT is(ff.create_execution(t.id(411), lane_id => 'stmt') ->> 'status', 'OK', 'a create under statement triggers with a transition table');
SELECT is(t.claim(t.id(411)) ->> 'ok', 'true', 'and its claim');
SELECT is((SELECT array_agg(what || ':' || n ORDER BY what) FROM t.stmt_log), ARRAY['INSERT:1', 'UPDATE:1'],
          'each statement trigger fired, its transition table holding the row');
DROP TRIGGER log_stmt_ins ON ff.execution;
DROP TRIGGER log_stmt_upd ON ff.execution;
ALTER TABLE ff.execution ADD CONSTRAINT t_own_table CHECK (tableoid = 'ff.execution'::regclass);
SELECT is(ff.create_execution(t.id(412), lane_id => 'stmt') ->> 'status', 'OK', 'a check constraint reading tableoid passes a create');
ALTER TABLE ff.execution DROP CONSTRAINT t_own_table;
-- a read-only transaction writes nothing, as a statement's writes are refused
SAVEPOINT read_only;
SET TRANSACTION READ ONLY;
SELECT throws_ok($$SELECT ff.create_execution(t.id(413), lane_id => 'stmt')$$, '25006', NULL,
                 'a create in a read-only transaction is refused');
SELECT throws_ok($$SELECT * FROM ff.claim_next('stmt', 'w', 'w-1')$$, '25006', NULL,
                 'a claim in a read-only transaction is refused');
ROLLBACK TO SAVEPOINT read_only;
SAVEPOINT added_column;
ALTER TABLE ff.execution ADD COLUMN t_note text DEFAULT 'from the default';
SELECT is(ff.create_execution(t.id(406), lane_id => 'bulk') ->> 'status', 'OK', 'a create after a column with a default was added');
SELECT is((SELECT t_note FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(406))), 'from the default',
          'the column gets its default (the insert goes through the statement)');
SELECT is(ff.create_executions(ARRAY[t.id(409), t.id(410)], 'bulk') ->> 'succeeded', '2', 'and a batch of creates');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE t_note = 'from the default' AND execution_id IN (t.exec_uuid(t.id(409)), t.exec_uuid(t.id(410)))), 2,
          'whose rows get the default too (its set statement)');
ROLLBACK TO SAVEPOINT added_column;

-- a single create's data row is inserted without a statement too
-- (ff_write_insert_row): the same row as the statement's, row and statement
-- triggers, a column added with a default
SET LOCAL ff_engine.test_store_by_key = on;
SELECT ff.create_execution(t.id(420), lane_id => 'data', input_payload => '\x0102', policy_json => '{"max_retries": 2}',
                           tags => '{"a": "x", "n": 5}');
SELECT ff.create_execution(t.id(422), lane_id => 'data');
SELECT ff.create_executions(ARRAY[t.id(430), t.id(431)], 'data', ARRAY['\x01', NULL]::bytea[], 'default', 3,
                            '{"max_retries": 1}') ->> 'succeeded';
SET LOCAL ff_engine.test_store_by_key = off;
SELECT ff.create_executions(ARRAY[t.id(432), t.id(433)], 'data', ARRAY['\x01', NULL]::bytea[], 'default', 3,
                            '{"max_retries": 1}') ->> 'succeeded';
SELECT ff.create_execution(t.id(421), lane_id => 'data', input_payload => '\x0102', policy_json => '{"max_retries": 2}',
                           tags => '{"a": "x", "n": 5}');
SELECT ff.create_execution(t.id(423), lane_id => 'data');
CREATE FUNCTION t.data_row(id text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT to_jsonb(d) - 'execution_id' FROM ff.execution_data d WHERE d.execution_id = t.exec_uuid(id) $$;
SELECT is(t.data_row(t.id(421)), t.data_row(t.id(420)), 'a data row inserted directly equals the statement''s');
SELECT is(t.data_row(t.id(423)), t.data_row(t.id(422)), 'and without payload, policy or tags');
SELECT is(t.data_row(t.id(421)) -> 'tags', '{"a": "x", "n": "5"}'::jsonb, 'its tags stringified');
SELECT is(ARRAY[t.data_row(t.id(432)), t.data_row(t.id(433))], ARRAY[t.data_row(t.id(430)), t.data_row(t.id(431))],
          'a batch''s data rows inserted directly equal its set statement''s');
CREATE FUNCTION t.stamp_data() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.tags := NEW.tags || '{"seen": "by a trigger"}'; RETURN NEW; END $$;
CREATE TRIGGER stamp_data BEFORE INSERT ON ff.execution_data FOR EACH ROW EXECUTE FUNCTION t.stamp_data();
CREATE TRIGGER log_data AFTER INSERT ON ff.execution_data FOR EACH ROW EXECUTE FUNCTION t.log_insert();
SELECT is(ff.create_execution(t.id(424), lane_id => 'data') ->> 'status', 'OK', 'a create under data row triggers');
SELECT is(t.data_row(t.id(424)) -> 'tags', '{"seen": "by a trigger"}'::jsonb, 'the BEFORE trigger''s NEW is the data row inserted');
SELECT is((SELECT count(*)::int FROM t.inserted_log WHERE id = t.exec_uuid(t.id(424))), 1, 'the AFTER trigger saw it once');
SELECT is(ff.create_executions(ARRAY[t.id(435), t.id(434)], 'data') ->> 'succeeded', '2', 'a batch of creates under data row triggers');
SELECT is(ARRAY[t.data_row(t.id(434)) -> 'tags', t.data_row(t.id(435)) -> 'tags'], ARRAY['{"seen": "by a trigger"}', '{"seen": "by a trigger"}']::jsonb[],
          'each data row of the batch is the BEFORE trigger''s NEW');
SELECT is((SELECT count(*)::int FROM t.inserted_log WHERE id IN (t.exec_uuid(t.id(434)), t.exec_uuid(t.id(435)))), 2,
          'the AFTER trigger saw each data row of the batch once');
DROP TRIGGER stamp_data ON ff.execution_data;
DROP TRIGGER log_data ON ff.execution_data;
CREATE TRIGGER refuse_data BEFORE INSERT ON ff.execution_data FOR EACH ROW EXECUTE FUNCTION t.refuse();
SELECT throws_ok($$SELECT ff.create_execution(t.id(425), lane_id => 'data')$$, 'P0001',
                 'refused by a row trigger', 'a data row trigger''s error is the create''s error');
DROP TRIGGER refuse_data ON ff.execution_data;
SELECT is((SELECT count(*)::int FROM ff.execution WHERE execution_id = t.exec_uuid(t.id(425))), 0, 'and the refused create wrote no core row');
DELETE FROM t.stmt_log;
CREATE TRIGGER log_stmt_data AFTER INSERT ON ff.execution_data REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION t.log_stmt();
SELECT is(ff.create_execution(t.id(426), lane_id => 'data') ->> 'status', 'OK', 'a create under a data statement trigger');
SELECT is((SELECT array_agg(what || ':' || n) FROM t.stmt_log), ARRAY['INSERT:1'], 'the statement trigger fired with its transition table');
SELECT is(ff.create_executions(ARRAY[t.id(436), t.id(437)], 'data') ->> 'succeeded', '2', 'a batch under the data statement trigger');
SELECT is((SELECT array_agg(what || ':' || n ORDER BY n) FROM t.stmt_log), ARRAY['INSERT:1', 'INSERT:2'],
          'which fired once for the batch''s two data rows');
DROP TRIGGER log_stmt_data ON ff.execution_data;
SAVEPOINT added_data_column;
ALTER TABLE ff.execution_data ADD COLUMN t_note text DEFAULT 'from the default';
SELECT is(ff.create_execution(t.id(427), lane_id => 'data') ->> 'status', 'OK', 'a create after a data column was added');
SELECT is((SELECT t_note FROM ff.execution_data WHERE execution_id = t.exec_uuid(t.id(427))), 'from the default',
          'the data column gets its default (the insert goes through the statement)');
SELECT is(ff.create_executions(ARRAY[t.id(438), t.id(439)], 'data') ->> 'succeeded', '2', 'and a batch of creates');
SELECT is((SELECT count(*)::int FROM ff.execution_data WHERE t_note = 'from the default'
           AND execution_id IN (t.exec_uuid(t.id(438)), t.exec_uuid(t.id(439)))), 2, 'whose data rows get the default too');
ROLLBACK TO SAVEPOINT added_data_column;
-- a default on the column the insert leaves out, and a column of another type: the statement inserts
SAVEPOINT data_column_changed;
ALTER TABLE ff.execution_data ALTER COLUMN result SET DEFAULT '\x2a';
SELECT ff.create_execution(t.id(440), lane_id => 'data');
SELECT ff.create_executions(ARRAY[t.id(441), t.id(442)], 'data') ->> 'succeeded';
SELECT is((SELECT array_agg(result ORDER BY execution_id) FROM ff.execution_data
           WHERE execution_id IN (t.exec_uuid(t.id(440)), t.exec_uuid(t.id(441)), t.exec_uuid(t.id(442)))),
          ARRAY['\x2a', '\x2a', '\x2a']::bytea[], 'a default on result applies to a single and a batch create''s data rows');
ALTER TABLE ff.execution_data ALTER COLUMN result DROP DEFAULT;
ALTER TABLE ff.execution_data ALTER COLUMN policy TYPE json USING policy::json;
SELECT ff.create_execution(t.id(443), lane_id => 'data', policy_json => '{"max_retries":  3}');
SELECT is((SELECT policy::text FROM ff.execution_data WHERE execution_id = t.exec_uuid(t.id(443))), '{"max_retries": 3}',
          'a policy column changed to json gets the statement''s conversion, not the jsonb bytes');
ROLLBACK TO SAVEPOINT data_column_changed;

-- the locking reads return where each locked row version is; it is read
-- from its page and taken apart by column name in C
-- (src/exec_core_row.c): the capabilities as read decide a grant, and a
-- column added with a default (a value the rows written before do not
-- carry) or dropped in the middle of a session changes nothing
SELECT t.at(1000000300000);
SELECT ff.create_execution(t.id(700 + i), lane_id => 'layout',
                           policy_json => '{"routing_requirements": {"required_capabilities": ["ssd", "gpu"]}}')
FROM generate_series(1, 3) i;
SELECT is(ff.issue_claim_grant(t.id(701), 'w2', 'w2-1', 'layout', worker_capabilities_csv => 'gpu') ->> 'ok', 'false',
          'a worker without one of the capabilities read from the row gets no grant');
SELECT is(t.claim(t.id(701)) ->> 'ok', 'true', 'a worker with all of them claims');
ALTER TABLE ff.execution ADD COLUMN zz_added integer NOT NULL DEFAULT 7;
SELECT is(t.complete(t.id(701), '\x01') ->> 'result', 'completed', 'completed after a column was added');
SELECT is(t.claim(t.id(702)) ->> 'ok', 'true', 'a row written before the column was added is claimed');
ALTER TABLE ff.execution DROP COLUMN zz_added;
SELECT is(t.complete(t.id(702), '\x02') ->> 'result', 'completed', 'and completed after it was dropped');
SELECT is(ff.issue_claim_grant(t.id(703), 'w2', 'w2-1', 'layout', worker_capabilities_csv => 'gpu') ->> 'ok', 'false',
          'the capabilities still read after the change');
-- a value kept out of line (TOAST) is read through its pointer: 200
-- capabilities stored externally
SELECT is((SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'ff.execution'::regclass), 0::bigint,
          'nothing is stored out of line before');
ALTER TABLE ff.execution ALTER COLUMN required_capabilities SET STORAGE EXTERNAL;
SELECT ff.create_execution(t.id(710), lane_id => 'toast',
    policy_json => jsonb_build_object('routing_requirements', jsonb_build_object('required_capabilities',
                   (SELECT jsonb_agg(format('capability-%s-of-the-toasted-row', i)) FROM generate_series(1, 100) i)))::text);
SELECT ok((SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'ff.execution'::regclass),
          'the capabilities are stored out of line');
SELECT is(ff.issue_claim_grant(t.id(710), 'w2', 'w2-1', 'toast',
          worker_capabilities_csv => (SELECT string_agg(format('capability-%s-of-the-toasted-row', i), ',')
                                      FROM generate_series(1, 99) i)) ->> 'ok', 'false',
          'a worker lacking one of the out-of-line capabilities gets no grant');
SELECT is(ff.issue_claim_grant(t.id(710), 'w2', 'w2-1', 'toast',
          worker_capabilities_csv => (SELECT string_agg(format('capability-%s-of-the-toasted-row', i), ',')
                                      FROM generate_series(1, 100) i)) ->> 'ok', 'true',
          'a worker with all of them gets one');
ALTER TABLE ff.execution ALTER COLUMN required_capabilities SET STORAGE EXTENDED;
SELECT results_eq($$SELECT public_state::text, total_attempt_count, current_lease_epoch FROM ff.executions
                    WHERE lane_id = 'layout' ORDER BY id$$,
                  $$VALUES ('completed', 1, 1::bigint), ('completed', 1, 1::bigint), ('waiting', 0, 0::bigint)$$,
                  'the rows as stored through the changes');
SELECT * FROM t.invariants('a table changed under the layout');

-- what the writes keep from one call to the next (index information with
-- the partial-index predicates compiled, the check constraints compiled:
-- src/exec_core_write.c): every index holds every row its predicate admits
-- (amcheck's heapallindexed), and a change of the table's indexes or
-- constraints in the middle of a session takes effect at the next store
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE FUNCTION t.indexes_hold_their_rows() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE i regclass;
BEGIN
    FOR i IN SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'ff.execution'::regclass LOOP
        PERFORM bt_index_check(i, true);
    END LOOP;
    RETURN true;
END $$;
SELECT ok(t.indexes_hold_their_rows(), 'after every transition above, each index of ff.execution holds all its rows');
-- an index whose predicate calls a function of the user's (built per write)
-- and one on a column the claim sets, created after the stores began
-- (plpgsql: not inlined into the predicate as a SQL function would be)
CREATE FUNCTION t.is_gpu_lane(l text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN l = 'cache'; END $$;
CREATE INDEX t_user_pred_idx ON ff.execution (created_at) WHERE t.is_gpu_lane(lane_id) AND lifecycle_phase = 'active';
CREATE INDEX t_worker_idx ON ff.execution (current_worker_id) WHERE current_worker_id IS NOT NULL;
SELECT ff.create_execution(t.id(800 + i), lane_id => 'cache',
                           policy_json => '{"retry_policy": {"max_retries": 2, "backoff": {"type": "fixed", "delay_ms": 0}}}')
FROM generate_series(1, 4) i;
SELECT is(t.claim(t.id(801)) ->> 'ok', 'true', 'a claim after two indexes were created');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE lane_id = 'cache' AND current_worker_id IS NOT NULL), 1,
          'one execution has a worker');
SELECT ok(t.indexes_hold_their_rows(), 'the new indexes got the claimed row (their predicates, the user''s function too)');
DROP INDEX ff.t_worker_idx;
SELECT is(t.complete(t.id(801)) ->> 'result', 'completed', 'a complete after an index was dropped');
SELECT ok(t.indexes_hold_their_rows(), 'and the remaining indexes hold all their rows');
-- a single store opens only the indexes its row enters; a BEFORE UPDATE
-- trigger may change the row after that choice, so under one every index
-- is opened: the trigger's row enters an index it chose by its own change
CREATE INDEX t_progress_idx ON ff.execution (progress_message) WHERE progress_message IS NOT NULL;
CREATE TRIGGER stamp BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.stamp();
SELECT is(t.claim(t.id(804)) ->> 'ok', 'true', 'a claim under a trigger that sets an indexed column');
DROP TRIGGER stamp ON ff.execution;
SELECT ok(t.indexes_hold_their_rows(), 'the row the trigger changed is in the index its change put it in');
SELECT is((SELECT count(*)::int FROM ff.execution WHERE progress_message = 'seen by a row trigger' AND lane_id = 'cache'), 1,
          'and the trigger''s value was stored');
DROP INDEX ff.t_progress_idx;
-- a check constraint added after the stores began refuses the next store
ALTER TABLE ff.execution ADD CONSTRAINT t_no_retry CHECK (retry_count < 1) NOT VALID;
SELECT is(t.claim(t.id(802)) ->> 'ok', 'true', 'a claim under the new constraint');
SELECT throws_ok($$SELECT t.fail(t.id(802))$$, '23514', NULL,
                 'a failure into a retry breaks the constraint added meanwhile: refused (23514)');
ALTER TABLE ff.execution DROP CONSTRAINT t_no_retry;
-- a constraint reading the whole row is compiled per write (its state
-- holds a row descriptor of one query), and holds for each write
ALTER TABLE ff.execution ADD CONSTRAINT t_whole_row CHECK (row_to_json(execution) IS NOT NULL) NOT VALID;
SELECT is(t.claim(t.id(803)) ->> 'ok', 'true', 'a claim under a whole-row constraint');
SELECT is(t.complete(t.id(803)) ->> 'result', 'completed', 'and the complete after it');
ALTER TABLE ff.execution DROP CONSTRAINT t_whole_row;
SELECT is(t.fail(t.id(802)) ->> 'result', 'retry_scheduled', 'once it is dropped the same failure goes through');
SELECT ok(t.indexes_hold_their_rows(), 'every index still holds all its rows');

SELECT * FROM finish();
ROLLBACK;
