-- A flow cancelled without waiting (issue 28): its owed members are never
-- claimed again, the background pass (ff.dispatch_flow_cancels, run by the
-- engine worker at the cancel's commit) cancels them whatever the grace, in
-- bounded batches, and the reconciler stays the backstop after grace_ms.
BEGIN;
\ir helpers.psql

CREATE FUNCTION t.flow(f uuid, prefix text, n integer) RETURNS void LANGUAGE sql AS $$
    SELECT ff.create_flow(f);
    SELECT count(t.member(f, prefix || i)) FROM generate_series(1, n) i;
$$;

-- owed members cannot be claimed in any way
SELECT t.flow('fc000000-0000-4000-8000-000000000001', 'a', 4);
SELECT ff.delay_execution(e.id, e.current_lease_id, e.current_lease_epoch, e.current_attempt_id, ff.now_ms() - 1)
FROM (SELECT (ff.issue_grant_and_claim(t.m('a4'), 'w', 'w-1', 'flow')) AS c) x, t.row(t.m('a4')) e;
SELECT ff.promote_delayed(t.m('a4')) ->> 'status';
SELECT ff.create_execution(t.id(1), lane_id => 'flow');
SELECT is((ff.cancel_flow('fc000000-0000-4000-8000-000000000001', 'stop', 'cancel_all', grace_ms => 600000, wait => false))
          ->> 'members_owed', '4', 'cancel_flow without waiting: four members owed a cancel');
SELECT is(ARRAY(SELECT claim ->> 'execution_id' FROM ff.claim_next('flow', 'w', 'w-1', max_count => 10)), ARRAY[t.id(1)],
          'claim_next skips every owed member and takes the other work of the lane');
SELECT is(ff.issue_claim_grant(t.m('a1'), 'w', 'w-1', 'flow') - 'status',
          '{"ok": false, "error": "execution_not_eligible", "detail": "flow_cancelled"}', 'issue_claim_grant refuses an owed member');
SELECT is(ff.issue_grant_and_claim(t.m('a2'), 'w', 'w-1', 'flow') ->> 'detail', 'flow_cancelled', 'issue_grant_and_claim too');
SELECT is(ff.claim_resumed_execution(t.m('a4'), 'w', 'w-1', 'flow') ->> 'detail', 'flow_cancelled',
          'and claim_resumed_execution (an interrupted attempt)');
SELECT is(ARRAY(SELECT t.st('a' || i) FROM generate_series(1, 4) i), ARRAY['waiting', 'waiting', 'waiting', 'waiting'],
          'nothing was started');

-- the background pass ignores the grace
SELECT is(ff.dispatch_flow_cancels() - 'status', '{"ok": true, "more": false, "errors": 0, "processed": 4}',
          'dispatch_flow_cancels cancels the owed members at once, grace or not');
SELECT is(ARRAY(SELECT t.st('a' || i) FROM generate_series(1, 4) i), ARRAY['cancelled', 'cancelled', 'cancelled', 'cancelled'],
          'every member is cancelled');
SELECT is((SELECT cancel_due_at FROM ff.flow WHERE flow_id = 'fc000000-0000-4000-8000-000000000001'), NULL,
          'the flow left the backlog');
SELECT is(ff.dispatch_flow_cancels() ->> 'processed', '0', 'a second pass finds nothing');

-- in bounded batches
SELECT t.flow('fc000000-0000-4000-8000-000000000002', 'b', 1200);
SELECT ff.cancel_flow('fc000000-0000-4000-8000-000000000002', 'big', 'cancel_all', grace_ms => 600000, wait => false) ->> 'status';
SELECT is(ff.dispatch_flow_cancels(500) - 'status', '{"ok": true, "more": true, "errors": 0, "processed": 500}', 'a pass takes at most max_members');
SELECT is((SELECT count(*)::int FROM ff.flow_pending_cancel WHERE flow_id = 'fc000000-0000-4000-8000-000000000002'), 700, '700 still owed');
SELECT is(ff.dispatch_flow_cancels(500) ->> 'processed', '500', 'the next pass 500 more');
SELECT is(ff.dispatch_flow_cancels(500) - 'status', '{"ok": true, "more": false, "errors": 0, "processed": 200}', 'the last 200');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE flow_id = 'fc000000-0000-4000-8000-000000000002' AND public_state = 'cancelled'),
          1200, 'all 1200 cancelled');
SELECT throws_ok($$SELECT ff.dispatch_flow_cancels(0)$$, '22023', NULL, 'max_members must be positive');
SELECT throws_ok($$SELECT ff.dispatch_flow_cancels(10001)$$, '22023', NULL, 'and bounded');

-- the reconciler stays the backstop after the grace
SELECT t.flow('fc000000-0000-4000-8000-000000000003', 'c', 3);
SELECT ff.cancel_flow('fc000000-0000-4000-8000-000000000003', 'late', 'cancel_all', grace_ms => 5000, wait => false) ->> 'status';
SELECT is(ff.scan_flow_cancels() ->> 'processed', '0', 'the reconciler leaves them alone within the grace');
SELECT t.at(1000000005000);
SELECT is(ff.scan_flow_cancels() ->> 'processed', '3', 'and cancels them once it has passed');

-- cancel_pending owes only the runnable members; flow_only owes nothing
SELECT t.flow('fc000000-0000-4000-8000-000000000004', 'p', 2);
SELECT ff.issue_grant_and_claim(t.m('p1'), 'w', 'w-1', 'flow') ->> 'status';
SELECT ff.cancel_flow('fc000000-0000-4000-8000-000000000004', 'x', 'cancel_pending', wait => false) ->> 'status';
SELECT is(ff.dispatch_flow_cancels() ->> 'processed', '1', 'cancel_pending: the runnable member only');
SELECT is(ARRAY[t.st('p1'), t.st('p2')], ARRAY['active', 'cancelled'], 'the running one drains');
SELECT t.flow('fc000000-0000-4000-8000-000000000005', 'o', 1);
SELECT ff.cancel_flow('fc000000-0000-4000-8000-000000000005', 'x', 'flow_only', wait => false) ->> 'status';
SELECT is(ff.issue_claim_grant(t.m('o1'), 'w', 'w-1', 'flow') ->> 'status', 'OK', 'flow_only: members stay claimable');

-- a running execution cannot be adopted by a flow to cancel it without its lease
CREATE ROLE t_sub LOGIN IN ROLE ff_submitter;
SELECT ff.create_flow('fc000000-0000-4000-8000-000000000006');
SELECT ff.flow_member_execution_id('fc000000-0000-4000-8000-000000000006') AS runner \gset
SELECT ff.create_execution(:'runner', lane_id => 'adopt');
SELECT ff.issue_grant_and_claim(:'runner', 'w', 'w-1', 'adopt') ->> 'status';
SELECT is(t.as_role('t_sub', format($$SELECT ff.add_execution_to_flow('fc000000-0000-4000-8000-000000000006', %L) ->> 'status'$$, :'runner')),
          'ERROR 42501', 'a submitter cannot put a running execution under a flow');
SELECT is((t.row(:'runner')).public_state::text, 'active', 'it runs on');
SELECT is(ff.add_execution_to_flow('fc000000-0000-4000-8000-000000000006', :'runner') ->> 'status', 'OK', 'an administrator can');

-- a member whose cancel fails (issue 22): recorded in the one failure table
-- with its SQLSTATE, message and detail, left owed, the other members
-- cancelled; cancelled once it can be, and its row cleared
SELECT t.flow('fc000000-0000-4000-8000-000000000007', 'x', 3);
CREATE FUNCTION t.refuse_x2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = t.exec_uuid(t.m('x2')) AND NEW.lifecycle_phase = 'terminal' THEN
        RAISE EXCEPTION 'member refuses' USING ERRCODE = 'FFX22', DETAIL = 'x2 stays';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_x2 BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_x2();
SELECT ff.cancel_flow('fc000000-0000-4000-8000-000000000007', 'x', 'cancel_all', wait => false) ->> 'status';
SET LOCAL client_min_messages = error;
SELECT is(ff.dispatch_flow_cancels() - 'status', '{"ok": true, "more": false, "errors": 1, "processed": 2}',
          'a failing member does not stop the others');
SELECT is(ARRAY[t.st('x1'), t.st('x2'), t.st('x3')], ARRAY['cancelled', 'waiting', 'cancelled'], 'the failing member is left');
SELECT is((SELECT ARRAY[scanner, item_id::text, failures::text, sqlstate, message, detail] FROM ff.scanner_item_failure),
          ARRAY['flow_cancel', t.exec_uuid(t.m('x2'))::text, '1', 'FFX22', 'member refuses', 'x2 stays'], 'and recorded');
SELECT is((SELECT count(*)::int FROM ff.flow_pending_cancel WHERE flow_id = 'fc000000-0000-4000-8000-000000000007'), 1, 'still owed');
DROP TRIGGER refuse_x2 ON ff.execution;
SELECT is(ff.dispatch_flow_cancels() ->> 'processed', '1', 'cancelled on the next pass');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'its failure row cleared');
SELECT is((SELECT cancel_due_at FROM ff.flow WHERE flow_id = 'fc000000-0000-4000-8000-000000000007'), NULL, 'and the flow left the backlog');
RESET client_min_messages;

SELECT t.invariants('flow cancel without waiting');
SELECT * FROM finish();
ROLLBACK;
