-- The SQL surface of ff_engine: functions, envelopes, error messages.
SET ff_engine.test_clock_ms = '1700000000000';

-- every function with its arguments and result
\pset format unaligned
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS result
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ff' ORDER BY 1, 2;

-- every function and view is documented
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'ff' AND obj_description(p.oid, 'pg_proc') IS NULL AND p.proname NOT LIKE '\_%';
\pset format aligned

-- the envelopes
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000001', input_payload => 'job');
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000001');
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000002', policy_json => '{');
SELECT ff.issue_claim_grant('{fp:3}:00000000-0000-4000-8000-000000000001', 'w1', 'w1-a', 'default');
SELECT ff.claim_execution('{fp:3}:00000000-0000-4000-8000-000000000001', 'w1', 'w1-a', 'default',
       lease_id => '11111111-0000-4000-8000-000000000001', attempt_id => '22222222-0000-4000-8000-000000000001');
SELECT ff.renew_lease('{fp:3}:00000000-0000-4000-8000-000000000001', 0, '22222222-0000-4000-8000-000000000001',
       '11111111-0000-4000-8000-000000000001', 1);
SELECT ff.complete_execution('{fp:3}:00000000-0000-4000-8000-000000000001', '11111111-0000-4000-8000-000000000001', 1,
       '22222222-0000-4000-8000-000000000001', 'result');
SELECT ff.complete_execution('{fp:3}:00000000-0000-4000-8000-000000000001', '11111111-0000-4000-8000-000000000001', 1,
       '22222222-0000-4000-8000-000000000001');
SELECT ff.mark_lease_expired_if_due('{fp:3}:00000000-0000-4000-8000-000000000001');
SELECT ff.read_execution_state('{fp:3}:00000000-0000-4000-8000-000000000009');
SELECT * FROM ff.claim_next('default', 'w1', 'w1-a');

-- error messages for misuse
SELECT ff.create_execution('{fp:3}:not-a-uuid');
SELECT ff.create_execution(NULL);
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000003', lane_id => '');
SELECT ff.claim_next('default', 'w 1', 'w1-a');
SELECT ff.claim_next('default', 'w1', 'w1-a', lease_ttl_ms => 0);
SELECT ff.claim_next('default', 'w1', 'w1-a', ARRAY['gpu', 'a,b']);
SELECT ff.create_execution('{fp:999}:00000000-0000-4000-8000-000000000003');
SELECT ff.set_partition_config(16);
SET ff_engine.max_payload_bytes = 4;
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000003', input_payload => 'too big');
RESET ff_engine.max_payload_bytes;
-- a fence passed in the wrong order, and a fence as one value that is not a claim
SELECT ff.create_execution('{fp:3}:00000000-0000-4000-8000-000000000004');
SELECT ff.issue_grant_and_claim('{fp:3}:00000000-0000-4000-8000-000000000004', 'w1', 'w1-a', 'default',
       lease_id => '11111111-0000-4000-8000-000000000004', attempt_id => '22222222-0000-4000-8000-000000000004');
SELECT ff.complete_execution('{fp:3}:00000000-0000-4000-8000-000000000004', '22222222-0000-4000-8000-000000000004', 1,
       '11111111-0000-4000-8000-000000000004');
SELECT ff.update_progress('{fp:3}:00000000-0000-4000-8000-000000000004', '22222222-0000-4000-8000-000000000004', 1);
SELECT ff.complete_execution('{"execution_id": "{fp:3}:00000000-0000-4000-8000-000000000004", "lease_id": "11111111-0000-4000-8000-000000000004"}'::jsonb);
SELECT ff.complete_execution('{"execution_id": "{fp:3}:00000000-0000-4000-8000-000000000004", "lease_id": "11111111-0000-4000-8000-000000000004",
       "lease_epoch": 1, "attempt_id": "22222222-0000-4000-8000-000000000004", "attempt_index": 0, "worker": "w1"}'::jsonb);
SELECT ff.complete_execution('{"execution_id": "{fp:3}:00000000-0000-4000-8000-000000000004", "lease_id": "11111111-0000-4000-8000-000000000004",
       "lease_epoch": 1, "attempt_id": "22222222-0000-4000-8000-000000000004", "attempt_index": 0}'::jsonb, 'done');
SET ff_engine.test_clock_ms = 'soon';
SET ff_engine.no_such_setting = 1;

SELECT * FROM ff.consistency_violations;
