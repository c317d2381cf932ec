-- RFC-016 sibling cancellation: behaviour/flows §3.10, §3.11, §6.2, §6.3,
-- checklist 49-60 and Invariant Q6.
BEGIN;
\ir helpers.psql

CREATE FUNCTION t.u(name text) RETURNS uuid LANGUAGE sql AS $$ SELECT (ff.parse_execution_id(t.m(name))).execution_uuid $$;
CREATE FUNCTION t.claim_m(name text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT ff.issue_grant_and_claim(t.m(name), 'w', 'w-1', 'flow')
$$;
CREATE FUNCTION t.succeed(name text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM t.claim_m(name);
    RETURN t.complete(t.m(name));
END $$;
-- A group of n upstreams u<tag>1..u<tag>n feeding downstream d<tag>.
CREATE FUNCTION t.group(f uuid, tag text, n integer, variant text, on_sat text, k integer DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ff.create_flow(f);
    PERFORM t.member(f, 'd' || tag);
    PERFORM t.member(f, 'u' || tag || i) FROM generate_series(1, n) i;
    PERFORM ff.set_edge_group_policy(f, t.m('d' || tag), variant, on_sat, k);
    PERFORM ff.add_dependency(f, t.m('u' || tag || i), t.m('d' || tag)) FROM generate_series(1, n) i;
END $$;
CREATE FUNCTION t.pending(tag text) RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::int FROM ff.pending_cancel_group WHERE downstream_execution_id = t.u('d' || tag)
$$;
CREATE FUNCTION t.states(tag text, n integer) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(t.st('u' || tag || i), ',' ORDER BY i) FROM generate_series(1, n) i
$$;
CREATE FUNCTION t.exec_snapshot() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(e::text, '|' ORDER BY e.partition, e.execution_id)) FROM ff.execution e
$$;
-- pass until nothing is pending (the worker does this on its own)
CREATE FUNCTION t.scan() RETURNS jsonb LANGUAGE sql AS $$ SELECT ff.scan_edge_cancel_dispatch(1000) $$;

-- ---- 49: any_of(cancel_remaining) 1 of 5, four siblings running ----
SELECT t.group('f5000000-0000-4000-8000-000000000001', 'a', 5, 'any_of', 'cancel_remaining');
SELECT t.claim_m('ua' || i) FROM generate_series(2, 5) i;
SELECT t.succeed('ua1');
SELECT t.dispatch();
SELECT is(t.pending('a'), 1, '49. the flip indexed one request');
SELECT is(t.states('a', 5), 'completed,active,active,active,active', '49. nothing cancelled before the dispatcher runs');
SELECT is(t.scan() - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "cancelled": 4, "already_terminal": 0, "not_found": 0, "more": false}',
          '49. one pass: one group drained, four siblings cancelled');
SELECT is(t.states('a', 5), 'completed,cancelled,cancelled,cancelled,cancelled', '49/60. every sibling cancelled, the winner not');
SELECT is((SELECT array_agg(DISTINCT cancellation_reason || '/' || cancelled_by) FROM ff.executions WHERE id IN (SELECT t.m('ua' || i) FROM generate_series(2, 5) i)),
          ARRAY['sibling_quorum_satisfied/sibling_quorum'], '49. reason = the group''s, cancelled_by = sibling_quorum (pinned, flows.md ambiguity 21)');
SELECT is((SELECT array_agg(DISTINCT a.attempt_state || '/' || a.failure_reason) FROM ff.attempt a
           WHERE (a.partition, a.execution_id) IN (SELECT (ff.parse_execution_id(t.m('ua' || i))).partition, t.u('ua' || i) FROM generate_series(2, 5) i)),
          ARRAY['ended_cancelled/cancelled: sibling_quorum_satisfied'], '49. their attempts ended cancelled');
SELECT is((SELECT count(*)::int FROM ff.executions WHERE id IN (SELECT t.m('ua' || i) FROM generate_series(2, 5) i) AND current_lease_id IS NOT NULL),
          0, '49. their leases released');
SELECT is((SELECT cancel_siblings_pending || '/' || coalesce(cardinality(cancel_siblings_members)::text, 'null') || '/' || cancel_siblings_reason || '/' || (satisfied_at IS NOT NULL)
           FROM ff.edge_group WHERE downstream_execution_id = t.u('da')), 'false/null/sibling_quorum_satisfied/true',
          '49. flag and list gone; reason and satisfied_at stay');
SELECT is(t.pending('a'), 0, '49. tuple removed');
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE outcome = 'cancelled' AND execution_id IN (SELECT t.u('ua' || i) FROM generate_series(2, 5) i)),
          4, '59. each cancelled sibling published a cancelled completion');
SELECT is(t.dispatch(), 4, '59. and they dispatch');
SELECT is((SELECT succeeded || '/' || failed || '/' || group_state FROM ff.edge_groups WHERE downstream_execution_id = t.m('da')), '1/4/satisfied',
          '59. their edges into the fired group count as failed; the state does not move');
SELECT is(t.st('da'), 'waiting', '59. the downstream stays eligible');
SELECT is(t.scan()->>'processed', '0', 'nothing left to dispatch');
SELECT is((SELECT dispatched || '/' || cancelled FROM ff.sibling_cancel_status WHERE reason = 'sibling_quorum_satisfied'), '4/4',
          'sibling_cancel_status counts dispatched and cancelled by reason');

-- ---- 59: a cancelled sibling's other outgoing edges resolve as non-success ----
SELECT t.group('f5000000-0000-4000-8000-000000000002', 'b', 2, 'any_of', 'cancel_remaining');
SELECT t.member('f5000000-0000-4000-8000-000000000002', 'after');
SELECT ff.add_dependency('f5000000-0000-4000-8000-000000000002', t.m('ub2'), t.m('after'));
SELECT t.claim_m('ub2');
SELECT t.succeed('ub1');
SELECT t.dispatch(), t.scan(), t.dispatch();
SELECT is(t.st('ub2') || '/' || t.st('after'), 'cancelled/skipped', '59. the cancelled sibling''s all_of downstream is skipped');

-- ---- 43: quorum 3 of 5 impossible -> reason sibling_quorum_impossible ----
SELECT t.group('f5000000-0000-4000-8000-000000000003', 'c', 5, 'quorum', 'cancel_remaining', 3);
SELECT t.claim_m('uc' || i) FROM generate_series(1, 5) i;
SELECT t.fail(t.m('uc1')), t.fail(t.m('uc2')), t.fail(t.m('uc3'));
SELECT t.dispatch();
SELECT is(t.st('dc'), 'skipped', '43. impossible: the child skipped');
SELECT is(t.scan()->>'cancelled', '2', '43. the two still running are cancelled');
SELECT is((SELECT array_agg(DISTINCT public_state || '/' || cancellation_reason) FROM ff.executions WHERE id IN (t.m('uc4'), t.m('uc5'))),
          ARRAY['cancelled/sibling_quorum_impossible'], '43. with reason sibling_quorum_impossible');

-- ---- quorum 3 of 5 satisfied: the rest cancelled ----
SELECT t.group('f5000000-0000-4000-8000-000000000004', 'q', 5, 'quorum', 'cancel_remaining', 3);
SELECT t.claim_m('uq' || i) FROM generate_series(4, 5) i;
SELECT t.succeed('uq' || i) FROM generate_series(1, 3) i;
SELECT t.dispatch(), t.scan();
SELECT is(t.states('q', 5), 'completed,completed,completed,cancelled,cancelled', 'quorum 3 of 5: the three winners kept, the other two cancelled');

-- ---- let_run never cancels ----
SELECT t.group('f5000000-0000-4000-8000-000000000005', 'l', 3, 'any_of', 'let_run');
SELECT t.claim_m('ul2');
SELECT t.succeed('ul1');
SELECT t.dispatch();
SELECT is(t.pending('l'), 0, 'let_run: no request');
SELECT is(t.scan()->>'cancelled', '0', 'let_run: the dispatcher cancels nothing');
SELECT is(t.states('l', 3), 'completed,active,waiting', 'let_run: the siblings run on');

-- ---- 50: already_terminal and not_found dispositions; still drained ----
SELECT t.group('f5000000-0000-4000-8000-000000000006', 'e', 4, 'any_of', 'cancel_remaining');
SELECT t.claim_m('ue' || i) FROM generate_series(2, 4) i;
SELECT t.succeed('ue1');
SELECT t.dispatch();
SELECT t.complete(t.m('ue2'));
SELECT ff.purge_execution(t.m('ue3'));
SELECT is(t.scan() - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "cancelled": 1, "already_terminal": 1, "not_found": 1, "more": false}',
          '50. finished before the dispatcher -> already_terminal; gone -> not_found');
SELECT is(t.st('ue2') || '/' || t.st('ue4'), 'completed/cancelled', '50. the finished sibling keeps its outcome');
SELECT is(t.pending('e'), 0, '50. the group is still drained');
SELECT is((SELECT already_terminal || '/' || not_found FROM ff.sibling_cancel_status WHERE reason = 'sibling_quorum_satisfied'), '1/1',
          '50. dispositions counted');

-- ---- 51/58: an error on one sibling rolls the group back; the next pass finishes ----
SELECT t.group('f5000000-0000-4000-8000-000000000007', 'g', 4, 'any_of', 'cancel_remaining');
SELECT t.claim_m('ug' || i) FROM generate_series(2, 4) i;
SELECT t.succeed('ug1');
SELECT t.dispatch();
CREATE TABLE t.poison (execution_id uuid);
CREATE FUNCTION t.poison_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id IN (SELECT execution_id FROM t.poison) AND NEW.lifecycle_phase = 'terminal' THEN
        RAISE EXCEPTION 'simulated crash on sibling';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.poison_trigger();
INSERT INTO t.poison VALUES (t.u('ug3'));
SET LOCAL client_min_messages = error;
SELECT is(t.scan() - 'scanner', '{"ok": true, "status": "OK", "processed": 0, "errors": 1, "cancelled": 0, "already_terminal": 0, "not_found": 0, "more": false}',
          '51. the third sibling fails: the group is not drained');
SET LOCAL client_min_messages = warning;
SELECT is(t.states('g', 4), 'completed,active,active,active', '51/58. the group rolled back whole: no half-done request');
SELECT is(t.pending('g') || '/' || (SELECT cancel_siblings_pending FROM ff.edge_group WHERE downstream_execution_id = t.u('dg')), '1/true',
          'Q6. the request is still pending');
SELECT is(ff.scan_edge_cancel_reconcile(1000)->>'left_to_dispatcher', '1', '58. the reconciler leaves it to the dispatcher');
DELETE FROM t.poison;
SELECT is(t.scan()->>'cancelled', '3', '51/58. the next pass cancels every sibling');
SELECT is(t.states('g', 4) || '/' || t.pending('g'), 'completed,cancelled,cancelled,cancelled/0', '58. and drains');
SELECT is((SELECT count(*)::int FROM ff.completion_event WHERE outcome = 'cancelled' AND execution_id IN (t.u('ug2'), t.u('ug3'), t.u('ug4'))),
          3, '51. one cancelled completion each, none from the rolled-back pass');

-- ---- 52/54: drain ----
SELECT t.group('f5000000-0000-4000-8000-000000000008', 'h', 2, 'any_of', 'cancel_remaining');
SELECT t.claim_m('uh2');
SELECT t.succeed('uh1');
SELECT t.dispatch();
SELECT is(ff.drain_sibling_cancel_group('f5000000-0000-4000-8000-000000000008', t.m('dh')), '{"ok": true, "status": "OK", "result": "drained"}', '52. drain');
SELECT is(ff.drain_sibling_cancel_group('f5000000-0000-4000-8000-000000000008', t.m('dh')), '{"ok": true, "status": "OK", "result": "already_drained"}',
          '52. drain twice -> already_drained');
SELECT is(t.st('uh2'), 'active', 'drain never cancels');
INSERT INTO ff.pending_cancel_group (partition, flow_id, downstream_execution_id, enqueued_at)
SELECT (ff.parse_execution_id(t.m('dh'))).partition, 'f5000000-0000-4000-8000-000000000008', gen_random_uuid(), 0;
SELECT is(ff.drain_sibling_cancel_group('f5000000-0000-4000-8000-000000000008', ff.format_execution_id(partition, downstream_execution_id)),
          '{"ok": true, "status": "OK", "result": "drained_sans_group"}', '52. a tuple whose group is gone -> drained_sans_group')
  FROM ff.pending_cancel_group WHERE enqueued_at = 0;
SELECT throws_ok($$SELECT ff.drain_sibling_cancel_group(NULL, 'x')$$, '22004', NULL, 'drain without a flow -> 22004');
SELECT throws_ok($$SELECT ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000008', NULL)$$, '22004', NULL, 'reconcile without a downstream -> 22004');
SELECT throws_ok($$SELECT ff.drain_sibling_cancel_group('f5000000-0000-4000-8000-000000000008', 'nonsense')$$, '22P02', NULL, 'a malformed downstream id -> 22P02');
SELECT throws_ok($$SELECT ff.scan_edge_cancel_dispatch(0)$$, '22023', NULL, 'batch_size 0 -> 22023');
SELECT throws_ok($$SELECT ff.scan_edge_cancel_reconcile(1001)$$, '22023', NULL, 'batch_size 1001 -> 22023');
-- 54: flag and list absent, tuple present -> the dispatcher drains, no cancels
INSERT INTO ff.pending_cancel_group (partition, flow_id, downstream_execution_id, enqueued_at)
SELECT partition, flow_id, downstream_execution_id, 1 FROM ff.edge_group WHERE downstream_execution_id = t.u('dh');
SELECT is(t.scan() - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "cancelled": 0, "already_terminal": 0, "not_found": 0, "more": false}',
          '54. flag and list gone, tuple present: drained without a cancel');
SELECT is(t.st('uh2') || '/' || t.pending('h'), 'active/0', '54. the sibling still runs, the tuple is gone');

-- ---- 56/57: reconciler ----
SELECT t.group('f5000000-0000-4000-8000-000000000009', 'r', 3, 'any_of', 'cancel_remaining');
SELECT t.claim_m('ur' || i) FROM generate_series(2, 3) i;
SELECT t.succeed('ur1');
SELECT t.dispatch();
SELECT t.exec_snapshot() AS before_reconcile \gset
SELECT is(ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000009', t.m('dr')),
          '{"ok": true, "status": "OK", "result": "no_op", "detail": "siblings_running"}', '56. a sibling running -> no_op/siblings_running');
SELECT is(t.pending('r'), 1, '56. nothing written');
SELECT t.complete(t.m('ur2'));
SELECT t.exec_snapshot() AS before_reconcile \gset
SELECT is(ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000009', t.m('dr'))->>'detail', 'siblings_running', '56. one still running is enough');
SELECT is(t.exec_snapshot(), :'before_reconcile', '57. the reconciler changed no execution');
SELECT t.fail(t.m('ur3'));
SELECT t.exec_snapshot() AS before_reconcile \gset
SELECT is(ff.scan_edge_cancel_reconcile(1000) - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "left_to_dispatcher": 0, "more": false}',
          '58. with the dispatcher idle and every sibling terminal, the reconciler completes the drain');
SELECT is(t.exec_snapshot(), :'before_reconcile', '57. still no execution changed');
SELECT is((SELECT cancel_siblings_pending || '/' || (cancel_siblings_members IS NULL) FROM ff.edge_group WHERE downstream_execution_id = t.u('dr')) || '/' || t.pending('r'),
          'false/true/0', '56. completed_drain clears flag, list and tuple');
SELECT is(ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000009', t.m('dr')),
          '{"ok": true, "status": "OK", "result": "no_op", "detail": "not_in_set"}', '56. tuple absent -> no_op/not_in_set');
INSERT INTO ff.pending_cancel_group (partition, flow_id, downstream_execution_id, enqueued_at)
SELECT partition, flow_id, downstream_execution_id, 2 FROM ff.edge_group WHERE downstream_execution_id = t.u('dr');
SELECT is(ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000009', t.m('dr')),
          '{"ok": true, "status": "OK", "result": "sremmed_stale", "detail": "flag_cleared"}', '56. flag cleared -> sremmed_stale/flag_cleared');
INSERT INTO ff.pending_cancel_group (partition, flow_id, downstream_execution_id, enqueued_at)
SELECT (ff.parse_execution_id(t.m('dr'))).partition, 'f5000000-0000-4000-8000-000000000009', gen_random_uuid(), 3;
SELECT is(ff.reconcile_sibling_cancel_group('f5000000-0000-4000-8000-000000000009', ff.format_execution_id(partition, downstream_execution_id)),
          '{"ok": true, "status": "OK", "result": "sremmed_stale", "detail": "missing_edgegroup"}', '56. group missing -> sremmed_stale/missing_edgegroup')
  FROM ff.pending_cancel_group WHERE enqueued_at = 3;
SELECT is((SELECT count(*)::int FROM ff.pending_cancel_group WHERE enqueued_at IN (2, 3)), 0, '56. stale tuples removed');

-- ---- 55: 2000 siblings, every one cancelled before the tuple disappears ----
SELECT t.group('f5000000-0000-4000-8000-00000000000a', 'z', 2001, 'any_of', 'cancel_remaining');
SELECT t.succeed('uz1');
SELECT t.dispatch();
SELECT is((SELECT cardinality(cancel_siblings_members) FROM ff.edge_group WHERE downstream_execution_id = t.u('dz')), 2000, '55. 2000 siblings listed');
SELECT is(t.scan()->>'cancelled', '2000', '55. all 2000 cancelled in one pass (no 1024 cap)');
SELECT is((SELECT count(*)::int FROM ff.executions e JOIN t.names n ON n.id = e.id WHERE n.name LIKE 'uz%' AND e.public_state = 'cancelled'), 2000,
          '55. every one is cancelled');
SELECT is(t.pending('z'), 0, '55. and only then is the tuple gone');

-- a group whose dispatch fails (issue 22): recorded in ff.scanner_item_failure
-- by its downstream execution with SQLSTATE, message and detail, left
-- pending; drained once it can be, its row cleared
SELECT t.group('f5000000-0000-4000-8000-0000000000f1', 'y', 2, 'any_of', 'cancel_remaining');
SELECT t.claim_m('uy2');
SELECT t.succeed('uy1');
SELECT t.dispatch();
CREATE FUNCTION t.refuse_uy2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.execution_id = t.u('uy2') AND NEW.lifecycle_phase = 'terminal' THEN
        RAISE EXCEPTION 'sibling refuses' USING ERRCODE = 'FFX12', DETAIL = 'uy2';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_uy2 BEFORE UPDATE ON ff.execution FOR EACH ROW EXECUTE FUNCTION t.refuse_uy2();
SET LOCAL client_min_messages = error;
SELECT is(t.scan() ->> 'errors', '1', 'a failing group is an error of the pass');
SELECT is((SELECT ARRAY[scanner, item_id::text, sqlstate, message, detail] FROM ff.scanner_item_failure),
          ARRAY['edge_cancel_dispatch', t.u('dy')::text, 'FFX12', 'sibling refuses', 'uy2'], 'recorded by its downstream execution');
SELECT is(t.pending('y'), 1, 'and left pending');
DROP TRIGGER refuse_uy2 ON ff.execution;
SELECT is(t.scan() - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "cancelled": 1, "already_terminal": 0, "not_found": 0, "more": false}',
          'drained on the next pass');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure), 0, 'its row cleared');
RESET client_min_messages;

-- a group whose reconciliation fails (issue 22): recorded in
-- ff.scanner_item_failure by its downstream execution with its SQLSTATE;
-- the other group is still reconciled; cleared once it succeeds
SELECT t.group('f5000000-0000-4000-8000-0000000000f2', 'x', 2, 'any_of', 'cancel_remaining');
SELECT t.group('f5000000-0000-4000-8000-0000000000f3', 'v', 2, 'any_of', 'cancel_remaining');
SELECT t.claim_m('ux2'), t.claim_m('uv2');
SELECT t.succeed('ux1'), t.succeed('uv1');
SELECT t.dispatch();
SELECT t.complete(t.m('ux2')), t.complete(t.m('uv2'));
CREATE FUNCTION t.refuse_dx() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.downstream_execution_id = t.u('dx') THEN
        RAISE EXCEPTION 'group refuses' USING ERRCODE = 'FFX13', DETAIL = 'dx';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_dx BEFORE UPDATE ON ff.edge_group FOR EACH ROW EXECUTE FUNCTION t.refuse_dx();
SET LOCAL client_min_messages = error;
SELECT is(ff.scan_edge_cancel_reconcile(1000) - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 1, "left_to_dispatcher": 0, "more": false}',
          'reconciler: a failing group is an error of the pass, the other one is drained');
SELECT is(t.pending('x') || '/' || t.pending('v'), '1/0', 'reconciler: the failing group left pending, the other drained');
SELECT is((SELECT ARRAY[scanner, item_id::text, sqlstate, message, detail] FROM ff.scanner_item_failure),
          ARRAY['edge_cancel_reconcile', t.u('dx')::text, 'FFX13', 'group refuses', 'dx'], 'reconciler: recorded by its downstream execution with its SQLSTATE');
DROP TRIGGER refuse_dx ON ff.edge_group;
SELECT is(ff.scan_edge_cancel_reconcile(1000) - 'scanner', '{"ok": true, "status": "OK", "processed": 1, "errors": 0, "left_to_dispatcher": 0, "more": false}',
          'reconciler: drained on the next pass');
SELECT is((SELECT count(*)::int FROM ff.scanner_item_failure) || '/' || t.pending('x'), '0/0', 'reconciler: its row cleared');
RESET client_min_messages;

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
