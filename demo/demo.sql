-- A worker's day with ff_engine, in plain SQL.
\pset pager off
\pset null '-'
CREATE EXTENSION ff_engine;

\echo
\echo '== 1. An application submits four executions (one of them with a retry policy, one high priority)'
SELECT ff.create_execution('{fp:1}:00000000-0000-4000-8000-00000000000' || n,
         lane_id => 'emails', execution_kind => kind, priority => prio,
         input_payload => convert_to(payload, 'UTF8'),
         policy_json => policy) ->> 'public_state' AS submitted, kind
FROM (VALUES (1, 'send_welcome', 0, '{"to": "ada@example.com"}', NULL),
             (2, 'send_invoice', 0, '{"to": "bob@example.com"}', '{"retry_policy": {"max_retries": 3, "backoff": {"type": "exponential", "initial_delay_ms": 2000}}}'),
             (3, 'send_digest',  0, '{"to": "cy@example.com"}', NULL),
             (4, 'send_alert',   9, '{"to": "ops@example.com"}', NULL)) AS j(n, kind, prio, payload, policy);

\echo
\echo '== 2. A worker claims three executions in one call (best first: priority, then age)'
CREATE TEMP TABLE claimed AS
SELECT c.claim, convert_from(c.input_payload, 'UTF8') AS payload
FROM ff.claim_next('emails', 'mailer', 'mailer-pod-1', lease_ttl_ms => 30000, max_count => 3) AS c;
SELECT claim ->> 'execution_id' AS execution, claim ->> 'lease_epoch' AS epoch,
       claim ->> 'attempt_type' AS attempt, payload FROM claimed;

\echo
\echo '== 3. The worker reports progress, completes the alert, fails the invoice (a transient error) and the operator cancels the digest'
SELECT ff.update_progress(claim ->> 'execution_id', (claim ->> 'lease_id')::uuid, (claim ->> 'lease_epoch')::bigint, 50, 'rendering') ->> 'status' AS progress
FROM claimed WHERE payload LIKE '%ops%';
SELECT ff.complete_execution(claim ->> 'execution_id', (claim ->> 'lease_id')::uuid, (claim ->> 'lease_epoch')::bigint,
         (claim ->> 'attempt_id')::uuid, result_payload => convert_to('{"message_id": "m-1"}', 'UTF8')) AS complete_alert
FROM claimed WHERE payload LIKE '%ops%';
SELECT ff.fail_execution(claim ->> 'execution_id', (claim ->> 'lease_id')::uuid, (claim ->> 'lease_epoch')::bigint,
         (claim ->> 'attempt_id')::uuid, failure_reason => 'smtp 421 try later', failure_category => 'transient') AS fail_invoice
FROM claimed WHERE payload LIKE '%bob%';
SELECT ff.cancel_execution('{fp:1}:00000000-0000-4000-8000-000000000003', reason => 'digest disabled') AS cancel_digest;

\echo
\echo '== 4. Where everything stands'
SELECT e.id AS execution, e.execution_kind AS kind, e.public_state, e.attempt_state, e.retry_count,
       e.current_lease_epoch AS epoch, e.blocking_detail
FROM ff.executions e ORDER BY e.id;

\echo
\echo '== 5. Attempts and lease history (every claim, release and its reason)'
SELECT ff.format_execution_id(a.partition, a.execution_id) AS execution, a.attempt_index, a.attempt_type, a.attempt_state,
       a.failure_reason FROM ff.attempt a ORDER BY 1, 2;
SELECT ff.format_execution_id(h.partition, h.execution_id) AS execution, h.event, h.lease_epoch, h.reason
FROM ff.lease_history h ORDER BY 1, h.seq;

\echo
\echo '== 6. Completion events (also announced with NOTIFY ff_completion) and the stored result'
SELECT event_id, ff.format_execution_id(partition, execution_id) AS execution, outcome FROM ff.completion_event ORDER BY event_id;
SELECT convert_from(ff.get_execution_result('{fp:1}:00000000-0000-4000-8000-000000000004'), 'UTF8') AS alert_result;

\echo
\echo '== 7. The invoice''s retry comes due: it is promoted and a worker claims attempt 1 (type retry)'
SELECT ff.promote_delayed('{fp:1}:00000000-0000-4000-8000-000000000002', now_ms => delay_until) ->> 'result' AS promotion
FROM ff.execution WHERE public_state = 'delayed';
SELECT claim ->> 'execution_id' AS execution, claim ->> 'attempt_index' AS attempt_index, claim ->> 'attempt_type' AS attempt_type,
       claim ->> 'lease_epoch' AS epoch
FROM ff.claim_next('emails', 'mailer', 'mailer-pod-2');

\echo
\echo '== 8. The state vector invariants hold for every execution (no rows = consistent)'
SELECT * FROM ff.consistency_violations;
