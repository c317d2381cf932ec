-- Recurring schedules, retry jitter and retention by outcome (issue 26):
-- cron parsing and bad input, next-fire arithmetic in time zones (DST both
-- ways, month ends, 29 February), firing on the test clock with each
-- overlap and catch-up policy, end date and count, the slot in the
-- idempotency key, tenancy; jitter bounds over many draws; retention per
-- outcome and the dead-letter view.
BEGIN;
\ir helpers.psql

CREATE FUNCTION t.ms(ts text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM ts::timestamptz) * 1000)::bigint
$$;
CREATE FUNCTION t.nf(expr text, tz text, after text) RETURNS text LANGUAGE sql AS $$
    SELECT to_char(to_timestamp(ff.cron_next_fire(expr, tz, t.ms(after)) / 1000.0) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD HH24:MI:SS')
$$;
CREATE FUNCTION t.sched(n text) RETURNS ff.schedules LANGUAGE sql AS $$
    SELECT * FROM ff.schedules s WHERE s.name = n AND s.namespace = 'default'
$$;
CREATE FUNCTION t.fired(n text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM ff.executions e WHERE e.creator_identity = 'schedule:' || n
$$;
CREATE FUNCTION t.scan() RETURNS integer LANGUAGE sql AS $$
    SELECT (ff.scan_schedules() ->> 'fired')::integer
$$;

-- ---- parsing and next-fire arithmetic (UTC) ----
SELECT is(t.nf('* * * * *', 'UTC', '2026-01-01 00:00:30Z'), '2026-01-01 00:01:00', 'every minute: the next minute');
SELECT is(t.nf('* * * * *', 'UTC', '2026-01-01 00:01:00Z'), '2026-01-01 00:02:00', 'strictly after: a slot at after_ms is not next');
SELECT is(t.nf('*/15 * * * * *', 'UTC', '2026-01-01 00:00:07Z'), '2026-01-01 00:00:15', 'six fields: a leading seconds field');
SELECT is(t.nf('0 0-12/6 * * *', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-01 06:00:00', 'a stepped range');
SELECT is(t.nf('5,10 3 * * *', 'UTC', '2026-01-01 03:07:00Z'), '2026-01-01 03:10:00', 'a list');
SELECT is(t.nf('0 9 * JAN,jul mon-FRI', 'UTC', '2026-01-31 10:00:00Z'), '2026-07-01 09:00:00', 'month and day names, any case');
SELECT is(t.nf('30 4 1/10 * *', 'UTC', '2026-01-02 00:00:00Z'), '2026-01-11 04:30:00', 'a/step runs from a');
SELECT is(t.nf('@yearly', 'UTC', '2026-03-01 00:00:00Z'), '2027-01-01 00:00:00', '@yearly');
SELECT is(t.nf('@annually', 'UTC', '2026-03-01 00:00:00Z'), '2027-01-01 00:00:00', '@annually');
SELECT is(t.nf('@monthly', 'UTC', '2026-03-01 00:00:00Z'), '2026-04-01 00:00:00', '@monthly');
SELECT is(t.nf('@weekly', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-04 00:00:00', '@weekly: Sunday midnight');
SELECT is(t.nf('@daily', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-02 00:00:00', '@daily');
SELECT is(t.nf('@hourly', 'UTC', '2026-01-01 00:59:59Z'), '2026-01-01 01:00:00', '@hourly');
SELECT is(t.nf('0 0 * * 7', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-04 00:00:00', '7 is Sunday');
-- the day rule: both day fields restricted -> either matches
SELECT is(t.nf('0 0 13 * 5', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-02 00:00:00', 'day of month OR day of week: the first Friday');
SELECT is(t.nf('0 0 13 * *', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-13 00:00:00', 'day of month alone');
SELECT is(t.nf('0 0 * * 5', 'UTC', '2026-01-01 00:00:00Z'), '2026-01-02 00:00:00', 'day of week alone');
SELECT is(t.nf('0 0 */2 * 5', 'UTC', '2026-01-02 00:00:00Z'), '2026-01-09 00:00:00',
          'a day-of-month starting with * is unrestricted: both must match (odd days that are Fridays)');
-- month ends and 29 February
SELECT is(t.nf('0 0 31 * *', 'UTC', '2026-01-31 00:00:00Z'), '2026-03-31 00:00:00', 'the 31st skips months without one');
SELECT is(t.nf('0 0 30 * *', 'UTC', '2026-01-30 00:00:00Z'), '2026-03-30 00:00:00', 'the 30th skips February');
SELECT is(t.nf('0 0 29 2 *', 'UTC', '2026-01-01 00:00:00Z'), '2028-02-29 00:00:00', '29 February: the next leap year');
SELECT is(t.nf('0 0 29 2 *', 'UTC', '2096-03-01 00:00:00Z'), '2104-02-29 00:00:00', '29 February across 2100 (not a leap year)');
SELECT is(ff.cron_next_fire('0 0 30 2 *', 'UTC', t.ms('2026-01-01Z')), NULL, '30 February never fires: NULL');
SELECT is(ff.cron_next_fire('@hourly', 'utc', 0), 3600000::bigint, 'a zone name in any case');

-- ---- time zones and daylight saving ----
SELECT is(t.nf('0 9 * * *', 'Europe/Paris', '2026-01-15 00:00:00Z'), '2026-01-15 08:00:00', 'Paris in winter: UTC+1');
SELECT is(t.nf('0 9 * * *', 'Europe/Paris', '2026-07-15 00:00:00Z'), '2026-07-15 07:00:00', 'Paris in summer: UTC+2');
SELECT is(t.nf('0 0 * * *', 'Asia/Kolkata', '2026-01-01 00:00:00Z'), '2026-01-01 18:30:00', 'a half-hour zone');
-- New York springs forward on 2026-03-08 at 02:00 (to 03:00)
SELECT is(t.nf('30 2 * * *', 'America/New_York', '2026-03-07 12:00:00Z'), '2026-03-08 07:00:00',
          'spring forward: 02:30 does not exist, it fires once at the first instant after the gap (03:00 EDT)');
SELECT is(t.nf('30 2 * * *', 'America/New_York', '2026-03-08 07:00:00Z'), '2026-03-09 06:30:00',
          'spring forward: and the next day at 02:30 EDT');
SELECT is(t.nf('30 2 * * *', 'America/New_York', '2026-03-06 12:00:00Z'), '2026-03-07 07:30:00', 'before it: 02:30 EST');
SELECT is(ff._cron_count('*/30 * * * *', 'America/New_York', t.ms('2026-03-08 06:00:00Z'), t.ms('2026-03-08 08:00:00Z'), 100),
          3::bigint, 'spring forward: the slots of the gap coalesce into one firing (01:30 EST, 03:00 EDT, 03:30 EDT)');
SELECT is(t.nf('*/30 * * * *', 'America/New_York', '2026-03-08 06:30:00Z'), '2026-03-08 07:00:00', 'the gap''s slots fire at 03:00 EDT');
SELECT is(t.nf('*/30 * * * *', 'America/New_York', '2026-03-08 07:00:00Z'), '2026-03-08 07:30:00', 'then 03:30 EDT');
-- New York falls back on 2026-11-01 at 02:00 (to 01:00)
SELECT is(t.nf('30 1 * * *', 'America/New_York', '2026-10-31 12:00:00Z'), '2026-11-01 05:30:00',
          'fall back: 01:30 fires at its first occurrence (EDT)');
SELECT is(t.nf('30 1 * * *', 'America/New_York', '2026-11-01 05:30:00Z'), '2026-11-02 06:30:00',
          'fall back: and not again at 01:30 EST');
SELECT is(t.nf('30 1 * * *', 'America/New_York', '2026-11-01 06:10:00Z'), '2026-11-02 06:30:00',
          'fall back: a schedule looking from inside the repeated hour waits for the next day');
SELECT is(t.nf('30 2 * * *', 'America/New_York', '2026-10-31 12:00:00Z'), '2026-11-01 07:30:00', 'fall back: 02:30 EST once');
SELECT is(t.nf('0 * * * *', 'America/New_York', '2026-11-01 05:00:00Z'), '2026-11-01 07:00:00',
          'fall back: an hourly schedule fires the repeated 01:00 once');
SELECT is(ff._cron_last('*/30 * * * *', 'UTC', t.ms('2026-01-01 00:00:00Z'), t.ms('2026-01-01 10:10:00Z')),
          t.ms('2026-01-01 10:00:00Z'), '_cron_last: the latest slot at or before');

-- ---- bad input: a clear error with its SQLSTATE, nothing written ----
CREATE TABLE t.bad (what text, sql text, state text);
INSERT INTO t.bad VALUES
('not cron', $$SELECT ff.cron_next_fire('bad')$$, '22023'),
('minute 60', $$SELECT ff.cron_next_fire('60 * * * *')$$, '22023'),
('four fields', $$SELECT ff.cron_next_fire('* * * *')$$, '22023'),
('seven fields', $$SELECT ff.cron_next_fire('* * * * * * *')$$, '22023'),
('backwards range', $$SELECT ff.cron_next_fire('5-1 * * * *')$$, '22023'),
('step 0', $$SELECT ff.cron_next_fire('*/0 * * * *')$$, '22023'),
('unknown alias', $$SELECT ff.cron_next_fire('@often')$$, '22023'),
('unknown month name', $$SELECT ff.cron_next_fire('0 0 1 foo *')$$, '22023'),
('day 0', $$SELECT ff.cron_next_fire('0 0 0 * *')$$, '22023'),
('trailing junk', $$SELECT ff.cron_next_fire('0 0 1 * *x')$$, '22023'),
('unknown zone', $$SELECT ff.cron_next_fire('@daily', 'Mars/Olympus_Mons')$$, '22023'),
('create: invalid expression', $$SELECT ff.create_schedule('b1', 'every day')$$, '22023'),
('create: unknown zone', $$SELECT ff.create_schedule('b2', '@daily', 'Nowhere/Town')$$, '22023'),
('create: never fires', $$SELECT ff.create_schedule('b3', '0 0 30 2 *')$$, '22023'),
('create: max_fires 0', $$SELECT ff.create_schedule('b4', '@daily', max_fires => 0)$$, '22023'),
('create: max_fires < 0', $$SELECT ff.create_schedule('b4', '@daily', max_fires => -1)$$, '22023'),
('create: window 0', $$SELECT ff.create_schedule('b5', '@daily', catch_up_window_ms => 0)$$, '22023'),
('create: grace < 0', $$SELECT ff.create_schedule('b5', '@daily', misfire_grace_ms => -1)$$, '22023'),
('create: overlap', $$SELECT ff.create_schedule('b6', '@daily', overlap => 'sometimes')$$, '22023'),
('create: catch_up', $$SELECT ff.create_schedule('b7', '@daily', catch_up => 'some')$$, '22023'),
('create: bad policy', $$SELECT ff.create_schedule('b8', '@daily', policy_json => '{"retry_policy": {"jitter": "wild"}}')$$, '22023'),
('create: empty name', $$SELECT ff.create_schedule('', '@daily')$$, '22023'),
('create: empty lane', $$SELECT ff.create_schedule('b9', '@daily', lane_id => '')$$, '22023'),
('create: tags not an object', $$SELECT ff.create_schedule('b10', '@daily', tags => '[1]')$$, '22023'),
('create: ends before it starts', $$SELECT ff.create_schedule('b11', '@daily', start_at => 2000, end_at => 1000)$$, '22023'),
('create: NULL cron', $$SELECT ff.create_schedule('b12', NULL)$$, '22004'),
('create: out of range clock', $$SELECT ff.cron_next_fire('@daily', 'UTC', -5)$$, '22008');
SELECT throws_ok(b.sql, b.state, NULL, b.what) FROM t.bad b;
SELECT is((SELECT count(*) FROM ff.schedule), 0::bigint, 'bad input wrote nothing');

-- ---- firing on the test clock ----
SELECT t.at(t.ms('2026-01-01 00:00:30Z'));
SELECT is(ff.create_schedule('every-minute', '* * * * *', lane_id => 'sl', execution_kind => 'report',
                             payload => 'in', priority => 7, tags => '{"team.owner": "ops"}') ->> 'next_fire_at',
          t.ms('2026-01-01 00:01:00Z')::text, 'create: next_fire_at is the first slot after now');
SELECT is(ff.create_schedule('every-minute', '@daily') ->> 'error', 'schedule_exists', 'a name is unique in its namespace');
SELECT is(t.scan(), 0, 'nothing due yet');
SELECT t.at(t.ms('2026-01-01 00:01:00.5Z'));
SELECT is(t.scan(), 1, 'a due slot fires');
SELECT is(t.scan(), 0, 'and only once');
SELECT is(row(e.lane_id, e.execution_kind, e.priority, e.public_state::text, e.namespace)::text,
          row('sl', 'report', 7::bigint, 'waiting', 'default')::text, 'the execution follows the template')
FROM ff.executions e WHERE e.creator_identity = 'schedule:every-minute';
SELECT is(ff.get_execution_tag(s.last_execution_id, 'ff.slot'), t.ms('2026-01-01 00:01:00Z')::text, 'it carries its slot')
FROM t.sched('every-minute') s;
SELECT is(ff.get_execution_tag(s.last_execution_id, 'team.owner'), 'ops', 'and the template''s tags')
FROM t.sched('every-minute') s;
SELECT is((ff.read_execution_context(s.last_execution_id)).input_payload, '\x696e'::bytea, 'and its payload')
FROM t.sched('every-minute') s;
SELECT is(row(s.fire_count, s.missed_count, s.last_slot_at, s.next_fire_at, s.last_fire_at, s.state)::text,
          row(1, 0, t.ms('2026-01-01 00:01:00Z'), t.ms('2026-01-01 00:02:00Z'), t.ms('2026-01-01 00:01:00.5Z'), 'active')::text,
          'the row: counts, last slot, next slot, state')
FROM t.sched('every-minute') s;
SELECT is((SELECT count(*) FROM ff.idempotency_key k JOIN ff.schedule s ON k.key = 'ff:schedule:' || s.schedule_id || ':' || s.last_slot_at
           WHERE s.name = 'every-minute'), 1::bigint, 'the slot is in the execution''s idempotency key');
-- exactly once: a slot that fired is never fired again, even if the row is rewound
UPDATE ff.schedule SET next_fire_at = t.ms('2026-01-01 00:01:00Z') WHERE name = 'every-minute';
SELECT is(t.scan(), 0, 'a rewound row: the slot''s idempotency key refuses a second execution');
SELECT is(t.fired('every-minute'), 1::bigint, 'still one execution for the slot');
SELECT is((t.sched('every-minute')).fire_count, 1::bigint, 'and one firing counted');

-- catch-up = last (the default): after downtime only the newest due slot fires
SELECT t.at(t.ms('2026-01-01 00:10:30Z'));
SELECT is(t.scan(), 1, 'catch-up last: one firing after downtime');
SELECT is(row(s.last_slot_at, s.missed_count, s.next_fire_at)::text,
          row(t.ms('2026-01-01 00:10:00Z'), 8, t.ms('2026-01-01 00:11:00Z'))::text,
          'catch-up last: the newest slot fired, the 8 before it missed')
FROM t.sched('every-minute') s;
SELECT ff.delete_schedule('every-minute');
SELECT is(ff.delete_schedule('every-minute') ->> 'error', 'schedule_not_found', 'deleted');

-- catch-up = all, bounded per scan by ff_engine.schedule_catch_up_max
SELECT t.at(t.ms('2026-01-01 01:00:30Z'));
SELECT ff.create_schedule('all', '* * * * *', catch_up => 'all');
SELECT t.at(t.ms('2026-01-01 01:05:30Z'));
SET LOCAL ff_engine.schedule_catch_up_max = 2;
SELECT is(t.scan(), 2, 'catch-up all: at most schedule_catch_up_max per scan');
SELECT is((t.sched('all')).next_fire_at, t.ms('2026-01-01 01:03:00Z'), 'the rest stay due');
SELECT is(t.scan(), 2, 'the next scan goes on');
SELECT is(t.scan(), 1, 'and fires the last');
SELECT is(t.scan(), 0, 'then nothing is due');
SELECT is(array(SELECT f.slot_at - t.ms('2026-01-01 01:00:00Z') FROM ff.schedule_firing f JOIN ff.schedule s USING (schedule_id)
                WHERE s.name = 'all' ORDER BY f.slot_at),
          ARRAY[60000, 120000, 180000, 240000, 300000]::bigint[], 'catch-up all: every missed slot fired once, in order');
SELECT is((t.sched('all')).missed_count, 0::bigint, 'none missed');
RESET ff_engine.schedule_catch_up_max;
-- slots older than catch_up_window_ms are missed
SELECT ff.update_schedule('all', catch_up_window_ms => 150000);
SELECT t.at(t.ms('2026-01-01 01:15:30Z'));
SELECT is(t.scan(), 3, 'catch-up all: only the slots within the window fire (01:13, 01:14, 01:15)');
SELECT is(row(s.missed_count, s.last_slot_at)::text, row(7, t.ms('2026-01-01 01:15:00Z'))::text,
          'the older ones (01:06 to 01:12) are missed')
FROM t.sched('all') s;
SELECT ff.delete_schedule('all');

-- catch-up = none: a slot later than misfire_grace_ms is missed
SELECT t.at(t.ms('2026-01-01 02:00:30Z'));
SELECT ff.create_schedule('none', '* * * * *', catch_up => 'none', misfire_grace_ms => 10000);
SELECT t.at(t.ms('2026-01-01 02:05:30Z'));
SELECT is(t.scan(), 0, 'catch-up none: nothing fires 30 s late with a 10 s grace');
SELECT is(row(s.missed_count, s.next_fire_at)::text, row(5, t.ms('2026-01-01 02:06:00Z'))::text, 'all five missed')
FROM t.sched('none') s;
SELECT t.at(t.ms('2026-01-01 02:06:05Z'));
SELECT is(t.scan(), 1, 'catch-up none: a slot within the grace fires');
SELECT ff.delete_schedule('none');

-- overlap = skip
SELECT t.at(t.ms('2026-01-01 03:00:30Z'));
SELECT ff.create_schedule('skip', '* * * * *', overlap => 'skip', catch_up => 'all');
SELECT t.at(t.ms('2026-01-01 03:01:00Z'));
SELECT is(t.scan(), 1, 'overlap skip: the first slot fires');
SELECT t.at(t.ms('2026-01-01 03:02:00Z'));
SELECT is(t.scan(), 0, 'overlap skip: not while the previous firing is not terminal');
SELECT is(row(s.skipped_count, s.fire_count, s.next_fire_at)::text, row(1, 1, t.ms('2026-01-01 03:03:00Z'))::text,
          'the slot is skipped, the schedule goes on')
FROM t.sched('skip') s;
SELECT ff.cancel_execution(s.last_execution_id, 'done') FROM t.sched('skip') s;
SELECT t.at(t.ms('2026-01-01 03:03:00Z'));
SELECT is(t.scan(), 1, 'overlap skip: fires again once the previous one is terminal');
SELECT is(ff.trigger_schedule('skip') ->> 'error', 'overlap', 'trigger honours the overlap policy');
SELECT ff.delete_schedule('skip');

-- overlap = cancel_previous
SELECT t.at(t.ms('2026-01-01 04:00:30Z'));
SELECT ff.create_schedule('cancelprev', '* * * * *', overlap => 'cancel_previous');
SELECT t.at(t.ms('2026-01-01 04:01:00Z'));
SELECT t.scan();
SELECT (t.sched('cancelprev')).last_execution_id AS prev \gset
SELECT t.at(t.ms('2026-01-01 04:02:00Z'));
SELECT is(t.scan(), 1, 'overlap cancel_previous: the next slot fires');
SELECT is((t.row(:'prev')).public_state::text, 'cancelled', 'and the previous firing is cancelled');
SELECT isnt((t.sched('cancelprev')).last_execution_id, :'prev', 'a new execution');
SELECT ff.delete_schedule('cancelprev');

-- overlap = allow
SELECT t.at(t.ms('2026-01-01 05:00:30Z'));
SELECT ff.create_schedule('allow', '* * * * *');
SELECT t.at(t.ms('2026-01-01 05:01:00Z'));
SELECT t.scan();
SELECT t.at(t.ms('2026-01-01 05:02:00Z'));
SELECT t.scan();
SELECT is((SELECT count(*) FROM ff.executions e WHERE e.creator_identity = 'schedule:allow' AND e.public_state = 'waiting'),
          2::bigint, 'overlap allow: both firings wait side by side');
SELECT ff.delete_schedule('allow');

-- end date and maximum count
SELECT t.at(t.ms('2026-01-01 06:00:30Z'));
SELECT ff.create_schedule('ends', '* * * * *', catch_up => 'all', end_at => t.ms('2026-01-01 06:02:00Z'));
SELECT ff.create_schedule('counted', '* * * * *', catch_up => 'all', max_fires => 2);
SELECT t.at(t.ms('2026-01-01 06:05:00Z'));
SELECT t.scan();
SELECT is(row(s.fire_count, s.next_fire_at, s.state)::text, row(2, NULL::bigint, 'finished')::text,
          'end_at: slots up to the end fire, then the schedule is finished')
FROM t.sched('ends') s;
SELECT is(row(s.fire_count, s.next_fire_at, s.state)::text, row(2, NULL::bigint, 'finished')::text,
          'max_fires: two firings, then finished')
FROM t.sched('counted') s;
SELECT is(t.fired('counted'), 2::bigint, 'max_fires: exactly two executions');

-- start date, pause and resume, trigger, update
SELECT t.at(t.ms('2026-01-01 07:00:00Z'));
SELECT is((ff.create_schedule('later', '0 * * * *', start_at => t.ms('2026-01-01 10:00:00Z')) ->> 'next_fire_at')::bigint,
          t.ms('2026-01-01 10:00:00Z'), 'start_at: the first slot at or after it');
SELECT ff.create_schedule('paused', '* * * * *');
SELECT is(ff.pause_schedule('paused') ->> 'result', 'paused', 'pause');
SELECT t.at(t.ms('2026-01-01 07:10:30Z'));
SELECT t.scan();
SELECT is(t.fired('paused'), 0::bigint, 'a paused schedule does not fire');
SELECT is((t.sched('paused')).state, 'paused', 'its state says so');
SELECT is((ff.resume_schedule('paused') ->> 'next_fire_at')::bigint, t.ms('2026-01-01 07:11:00Z'),
          'resume: from the next slot after now (the paused ones are not owed)');
SELECT is(ff.trigger_schedule('paused') ->> 'status', 'OK', 'trigger: fires now');
SELECT is(row(t.fired('paused'), (t.sched('paused')).fire_count, (t.sched('paused')).next_fire_at)::text,
          row(1, 1, t.ms('2026-01-01 07:11:00Z'))::text, 'trigger: one execution, the slots unchanged');
SELECT is((ff.update_schedule('paused', cron => '0 9 * * *', time_zone => 'Europe/Paris') ->> 'next_fire_at')::bigint,
          t.ms('2026-01-01 08:00:00Z'), 'update: a new cron and zone recompute the next slot (09:00 in Paris)');
SELECT is((t.sched('paused')).time_zone, 'Europe/Paris', 'the zone is stored');
SELECT throws_ok($$SELECT ff.update_schedule('paused', cron => '61 * * * *')$$, '22023', NULL, 'update: a bad cron is refused');
SELECT is((t.sched('paused')).cron, '0 9 * * *', 'and nothing changed');
SELECT is(ff.update_schedule('nope', cron => '@daily') ->> 'error', 'schedule_not_found', 'update: unknown schedule');
SELECT ff.delete_schedule('paused'), ff.delete_schedule('later');

-- a schedule firing in a time zone
SELECT t.at(t.ms('2026-03-07 12:00:00Z'));
SELECT ff.create_schedule('ny', '30 2 * * *', 'America/New_York');
SELECT is((t.sched('ny')).next_fire_at, t.ms('2026-03-08 07:00:00Z'), 'a schedule in New York: the spring-forward slot');
SELECT t.at(t.ms('2026-03-08 07:00:00Z'));
SELECT is(t.scan(), 1, 'it fires once');
SELECT is((t.sched('ny')).next_fire_at, t.ms('2026-03-09 06:30:00Z'), 'then the next day in EDT');

-- the scanner through ff.run_scanner (as the engine worker calls it)
SELECT t.at(t.ms('2026-03-09 06:30:00Z'));
SELECT is(ff.run_scanner('schedules') ->> 'fired', '1', 'run_scanner(''schedules'') fires due slots');
SELECT is((SELECT runs FROM ff.scanner_state WHERE scanner = 'schedules'), 1::bigint, 'and records the run');
SELECT ok(ff.scanner_interval_ms('schedules') = 1000, 'ff_engine.schedules_interval defaults to 1 s');

-- ---- tenancy ----
CREATE ROLE t_sched_a LOGIN IN ROLE ff_submitter;
SELECT ff.grant_namespace('t_sched_a', 'a');
SELECT ff.create_schedule('theirs', '@daily', namespace => 'b');
SELECT is(t.as_role('t_sched_a', $$SELECT ff.create_schedule('x', '@daily', namespace => 'b')$$), 'ERROR 42501',
          'a namespace not granted: 42501');
SELECT is(t.as_role('t_sched_a', $$SELECT ff.create_schedule('mine', '@daily', namespace => 'a') ->> 'status'$$), 'OK',
          'its own namespace: created');
SELECT is(t.as_role('t_sched_a', $$SELECT string_agg(name, ',') FROM ff.schedules$$), 'mine', 'it sees only its schedules');
SELECT is(t.as_role('t_sched_a', $$SELECT ff.pause_schedule('theirs', 'b') ->> 'error'$$), 'schedule_not_found',
          'another tenant''s schedule is not found');
SELECT is(t.as_role('t_sched_a', $$SELECT ff.trigger_schedule('theirs', 'b') ->> 'error'$$), 'schedule_not_found',
          'nor can it be triggered');
SELECT is(t.as_role('t_sched_a', $$SELECT ff.trigger_schedule('mine', 'a') ->> 'status'$$), 'OK', 'its own can');
SELECT is(t.as_role('t_sched_a', $$SELECT count(*) FROM ff.list_schedules('b')$$), '0', 'list_schedules hides the other tenant');
SELECT is((SELECT paused FROM ff.schedule WHERE name = 'theirs'), false, 'the other tenant''s schedule is untouched');

-- ---- the scanner's batch: set-based fast path, guarded redo, next_in_ms ----
SELECT t.at(t.ms('2026-04-01 00:00:30Z'));
SELECT ff.create_schedule('fp' || i, '* * * * *', namespace => 'fp', lane_id => 'fpl') FROM generate_series(1, 3) i;
SELECT ff.create_schedule('fp-skip', '* * * * *', namespace => 'fp', lane_id => 'fpl', overlap => 'skip');
SELECT is((ff.scan_schedules(1000, 'fp') ->> 'next_in_ms')::bigint, 30000::bigint,
          'next_in_ms: the time to the next slot, for the engine worker to wake then');
SELECT t.at(t.ms('2026-04-01 00:01:00Z'));
SELECT is(ff.scan_schedules(1000, 'fp') - 'ok' - 'status' - 'scanner',
          '{"processed": 4, "fired": 4, "errors": 0, "more": false, "next_in_ms": 60000}'::jsonb,
          'a batch fires every due schedule (fast path and row by row) and reports the next slot');
SELECT is((SELECT count(*) FROM ff.schedule_firing f JOIN ff.schedule s USING (schedule_id)
           WHERE s.namespace = 'fp' AND f.slot_at = t.ms('2026-04-01 00:01:00Z')), 4::bigint, 'one firing record each');
SELECT is((SELECT count(*) FILTER (WHERE s.last_slot_at = t.ms('2026-04-01 00:01:00Z') AND s.fire_count = 1
                                     AND s.next_fire_at = t.ms('2026-04-01 00:02:00Z') AND s.last_execution_id IS NOT NULL)
           FROM ff.schedule s WHERE s.namespace = 'fp'), 4::bigint, 'each row advanced: last slot, count, next slot, execution');
SELECT is((SELECT count(*) FROM ff.execution e WHERE e.lane_id = 'fpl'), 4::bigint, 'four executions');
-- a slot whose creation fails (a template made bad behind the checks) rolls
-- the batch back; the redo guards each slot: that one is missed, the rest fire
UPDATE ff.schedule SET lane_id = '' WHERE name = 'fp2';
UPDATE ff.schedule SET policy_json = '{"retry_policy": {"jitter": "half"}}' WHERE name = 'fp3';
SELECT t.at(t.ms('2026-04-01 00:02:00Z'));
SELECT is((ff.scan_schedules(1000, 'fp') ->> 'fired')::integer, 1, 'the batch redone guarded: the good slot fires');
SELECT is(row(s.fire_count, s.missed_count, s.next_fire_at, s.last_error IS NOT NULL)::text,
          row(1, 1, t.ms('2026-04-01 00:03:00Z'), true)::text, 'a slot that raises is missed and the row advanced')
FROM ff.schedule s WHERE s.name = 'fp2';
SELECT is(row(s.fire_count, s.missed_count, s.next_fire_at, s.last_error IS NOT NULL)::text,
          row(1, 1, t.ms('2026-04-01 00:03:00Z'), true)::text, 'a slot whose creation is refused is missed too')
FROM ff.schedule s WHERE s.name = 'fp3';
SELECT is(row(s.fire_count, s.skipped_count, s.next_fire_at)::text, row(1, 1, t.ms('2026-04-01 00:03:00Z'))::text,
          'overlap skip: the previous firing is still waiting, the slot is skipped')
FROM ff.schedule s WHERE s.name = 'fp-skip';
SELECT is((SELECT s.fire_count FROM ff.schedule s WHERE s.name = 'fp1'), 2::bigint, 'the good schedule fired its slot');
SELECT is((SELECT count(*) FROM ff.execution e WHERE e.lane_id = 'fpl'), 5::bigint, 'one more execution, no other');
-- the slot that raised is recorded as the scanner's failing item (issue 22),
-- with its SQLSTATE and without back-off; a later run that misses nothing clears it
SELECT is((SELECT array_agg(f.scanner || '/' || f.sqlstate || '/' || f.failures || '/' || f.skip_until_cycle)
           FROM ff.scanner_item_failure f JOIN ff.schedule s ON s.schedule_id = f.item_id WHERE s.name = 'fp2'),
          ARRAY['schedules/22023/1/0'], 'a raising slot is recorded in ff.scanner_item_failure, no back-off');
UPDATE ff.schedule SET lane_id = 'fpl' WHERE name = 'fp2';
SELECT t.at(t.ms('2026-04-01 00:03:00Z'));
SELECT is(ff.scan_schedules(1000, 'fp') ->> 'errors', '0', 'the next batch has no error');
SELECT is((SELECT s.fire_count FROM ff.schedule s WHERE s.name = 'fp2'), 2::bigint, 'the mended schedule fires its next slot');
SELECT is((SELECT count(*) FROM ff.scanner_item_failure f JOIN ff.schedule s ON s.schedule_id = f.item_id WHERE s.name = 'fp2'),
          0::bigint, 'its failure row cleared');

-- ---- flow templates ----
SELECT t.at(t.ms('2026-04-02 00:00:30Z'));
CREATE FUNCTION t.fm(sched text, member text) RETURNS text LANGUAGE sql AS $$
    SELECT ff.format_execution_id(e.partition, e.execution_id) FROM ff.schedule s
    JOIN ff.execution e ON e.partition = ff.flow_partition(s.last_flow_id) AND e.flow_id = s.last_flow_id
    WHERE s.name = sched AND ff.get_execution_tag(ff.format_execution_id(e.partition, e.execution_id), 'ff.member') = member
$$;
SELECT is(ff.create_schedule('fl', '* * * * *', namespace => 'fl', lane_id => 'fll', tags => '{"team": "etl"}',
    flow => '{"flow_kind": "etl",
              "members": [{"key": "extract", "payload": "go", "tags": {"step": "1"}},
                          {"key": "load", "lane_id": "fll2", "priority": 3, "execution_kind": "loader",
                           "policy": {"max_retries": 2}}],
              "edges": [{"from": "extract", "to": "load"}]}') ->> 'status', 'OK', 'a flow template is accepted');
SELECT t.at(t.ms('2026-04-02 00:01:00Z'));
SELECT is((ff.scan_schedules(1000, 'fl') ->> 'fired')::integer, 1, 'the flow slot fires');
SELECT is((SELECT row(f.flow_kind, f.node_count, f.edge_count, f.namespace)::text FROM ff.flow f JOIN ff.schedule s
           ON f.partition = ff.flow_partition(s.last_flow_id) AND f.flow_id = s.last_flow_id WHERE s.name = 'fl'),
          row('etl', 2, 1, 'fl')::text, 'a firing creates the flow with its members and its edge');
SELECT is(row(e.lane_id, e.priority, e.public_state::text, ff.get_execution_tag(e.id, 'step'), ff.get_execution_tag(e.id, 'team'))::text,
          row('fll', 0::bigint, 'waiting', '1', 'etl')::text, 'the upstream member: the schedule''s lane, its own tags with the schedule''s')
FROM t.row(t.fm('fl', 'extract')) e;
SELECT is((ff.read_execution_context(t.fm('fl', 'extract'))).input_payload, convert_to('go', 'UTF8'), 'its payload');
SELECT is(row(e.lane_id, e.priority, e.execution_kind, e.public_state::text)::text,
          row('fll2', 3::bigint, 'loader', 'waiting_children')::text, 'the downstream member: its own lane, priority, kind; blocked by its edge')
FROM t.row(t.fm('fl', 'load')) e;
SELECT is((SELECT s.last_execution_id FROM ff.schedule s WHERE s.name = 'fl'), t.fm('fl', 'extract'),
          'last_execution_id is the first member');
SELECT is((SELECT count(*) FROM ff.schedule_firing f JOIN ff.schedule s USING (schedule_id) WHERE s.name = 'fl'), 1::bigint,
          'one firing record');
-- exactly once: the slot again creates nothing (the flow id is derived from schedule and slot)
UPDATE ff.schedule SET next_fire_at = t.ms('2026-04-02 00:01:00Z') WHERE name = 'fl';
SELECT is((ff.scan_schedules(1000, 'fl') ->> 'fired')::integer, 0, 'a rewound flow slot fires nothing');
SELECT is((SELECT count(*) FROM ff.execution e WHERE e.namespace = 'fl'), 2::bigint, 'still two members');
SELECT is((SELECT count(*) FROM ff.flow f WHERE f.namespace = 'fl'), 1::bigint, 'and one flow');
SELECT is((SELECT row(s.fire_count, s.next_fire_at)::text FROM ff.schedule s WHERE s.name = 'fl'),
          row(1, t.ms('2026-04-02 00:02:00Z'))::text, 'the row advanced, the firing not counted twice');
-- overlap skip: the flow is running while any member is not terminal
SELECT is(ff.update_schedule('fl', 'fl', overlap => 'skip') ->> 'status', 'OK', 'overlap skip from now on');
SELECT t.at(t.ms('2026-04-02 00:02:00Z'));
SELECT t.claim(t.fm('fl', 'extract'));
SELECT is(t.complete(t.fm('fl', 'extract')) ->> 'status', 'OK', 'the upstream completes');
SELECT cmp_ok(t.dispatch(), '>', 0, 'its completion is dispatched');
SELECT is((t.row(t.fm('fl', 'load'))).public_state::text, 'waiting', 'the downstream runs after its upstream completed');
SELECT is((ff.scan_schedules(1000, 'fl') ->> 'fired')::integer, 0, 'overlap skip: the downstream is not terminal, no firing');
SELECT is((SELECT s.skipped_count FROM ff.schedule s WHERE s.name = 'fl'), 1::bigint, 'the slot counted skipped');
SELECT t.claim(t.fm('fl', 'load'));
SELECT is(t.complete(t.fm('fl', 'load')) ->> 'status', 'OK', 'the downstream completes');
SELECT t.at(t.ms('2026-04-02 00:03:00Z'));
SELECT is((ff.scan_schedules(1000, 'fl') ->> 'fired')::integer, 1, 'every member terminal: the next slot fires');
SELECT is((SELECT count(*) FROM ff.flow f WHERE f.namespace = 'fl'), 2::bigint, 'a second flow');
-- edge groups: quorum over three upstreams
SELECT is(ff.create_schedule('flq', '* * * * *', namespace => 'fl', lane_id => 'fll',
    flow => '{"members": [{"key": "a"}, {"key": "b"}, {"key": "c"}, {"key": "join"}],
              "edges": [{"from": "a", "to": "join"}, {"from": "b", "to": "join"}, {"from": "c", "to": "join"}],
              "edge_groups": [{"downstream": "join", "policy": "quorum", "on_satisfied": "let_run", "k": 2}]}') ->> 'status',
          'OK', 'an edge group in a template');
SELECT t.at(t.ms('2026-04-02 00:04:00Z'));
SELECT ff.scan_schedules(1000, 'fl');
SELECT is((SELECT row(g.policy_variant, g.on_satisfied, g.k)::text FROM ff.edge_group g JOIN ff.schedule s
           ON g.partition = ff.flow_partition(s.last_flow_id) AND g.flow_id = s.last_flow_id WHERE s.name = 'flq'),
          row('quorum', 'let_run', 2)::text, 'the group''s policy is set on the fired flow');
SELECT is(ff.trigger_schedule('flq', 'fl') ? 'flow_id', true, 'trigger_schedule fires a flow too, returning its flow_id');
-- overlap cancel_previous: the previous flow's members are cancelled, then the slot fires
SELECT is(ff.create_schedule('flc', '* * * * *', namespace => 'fl', lane_id => 'fll', overlap => 'cancel_previous',
    flow => '{"members": [{"key": "a"}, {"key": "b"}], "edges": [{"from": "a", "to": "b"}]}') ->> 'status', 'OK',
          'a flow schedule with cancel_previous');
SELECT t.at(t.ms('2026-04-02 00:05:00Z'));
SELECT ff.scan_schedules(1000, 'fl');
CREATE TEMP TABLE flc_prev AS SELECT last_flow_id AS f FROM ff.schedule WHERE name = 'flc';
SELECT t.at(t.ms('2026-04-02 00:06:00Z'));
SELECT ff.scan_schedules(1000, 'fl');
SELECT is((SELECT string_agg(DISTINCT e.public_state::text, ',') FROM ff.execution e, flc_prev p
           WHERE e.partition = ff.flow_partition(p.f) AND e.flow_id = p.f), 'cancelled',
          'cancel_previous: every member of the previous flow is cancelled');
SELECT is((SELECT s.fire_count FROM ff.schedule s WHERE s.name = 'flc'), 2::bigint, 'and the new slot fired');
SELECT isnt((SELECT s.last_flow_id FROM ff.schedule s WHERE s.name = 'flc'), (SELECT f FROM flc_prev), 'a new flow');
-- bad templates: 22023, nothing written
SELECT throws_ok(format($$SELECT ff.create_schedule('flbad', '@daily', namespace => 'fl', flow => %L)$$, j), '22023', NULL, d)
FROM (VALUES
  ('[]', 'bad flow: not an object'),
  ('{"members": []}', 'bad flow: no member'),
  ('{"members": [{"key": "a"}], "extra": 1}', 'bad flow: an unknown field'),
  ('{"members": [{"key": "a"}, {"key": "a"}]}', 'bad flow: a key twice'),
  ('{"members": [{"lane_id": "x"}]}', 'bad flow: a member without a key'),
  ('{"members": [{"key": "a", "lane_id": ""}]}', 'bad flow: an empty lane'),
  ('{"members": [{"key": "a", "priority": "high"}]}', 'bad flow: a priority that is not an integer'),
  ('{"members": [{"key": "a", "tags": [1]}]}', 'bad flow: tags not an object'),
  ('{"members": [{"key": "a", "policy": {"retry_policy": {"jitter": "half"}}}]}', 'bad flow: a member policy refused'),
  ('{"members": [{"key": "a"}], "edges": [{"from": "a", "to": "z"}]}', 'bad flow: an edge to an unknown member'),
  ('{"members": [{"key": "a"}], "edges": [{"from": "a", "to": "a"}]}', 'bad flow: a self edge'),
  ('{"members": [{"key": "a"}, {"key": "b"}], "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "b"}]}', 'bad flow: an edge twice'),
  ('{"members": [{"key": "a"}, {"key": "b"}, {"key": "c"}], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"}]}', 'bad flow: a cycle'),
  ('{"members": [{"key": "a"}, {"key": "b"}], "edge_groups": [{"downstream": "b", "policy": "all_of"}]}', 'bad flow: a group without edges'),
  ('{"members": [{"key": "a"}, {"key": "b"}], "edges": [{"from": "a", "to": "b"}], "edge_groups": [{"downstream": "b", "policy": "any_of"}]}', 'bad flow: any_of without on_satisfied'),
  ('{"members": [{"key": "a"}, {"key": "b"}], "edges": [{"from": "a", "to": "b"}], "edge_groups": [{"downstream": "b", "policy": "quorum", "on_satisfied": "let_run", "k": 2}]}', 'bad flow: quorum k above its edges'),
  ('{"members": [{"key": "a"}, {"key": "b"}], "edges": [{"from": "a", "to": "b"}], "edge_groups": [{"downstream": "b", "policy": "most"}]}', 'bad flow: an unknown group policy')
) v(j, d);
SELECT is((SELECT count(*) FROM ff.schedule WHERE name = 'flbad'), 0::bigint, 'bad templates wrote nothing');
SELECT throws_ok($$SELECT ff.update_schedule('fl', 'fl', flow => '{"members": []}')$$, '22023', NULL, 'update: a bad flow template is refused');
SELECT is(ff.update_schedule('fl', 'fl', flow => 'null') ->> 'status', 'OK', 'update: JSON null drops the flow template');
SELECT is((SELECT flow_template FROM ff.schedules WHERE name = 'fl'), NULL, 'and the view shows none');

-- ---- retry jitter ----
SELECT t.at(t.ms('2026-05-01 00:00:00Z'));
CREATE FUNCTION t.delays(jitter text, n integer) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    out bigint[] := '{}';
    id text;
BEGIN
    FOR i IN 1..n LOOP
        id := ff.execution_id('jit');
        PERFORM ff.create_execution(id, lane_id => 'jit', policy_json => format(
            '{"retry_policy": {"max_retries": 5, "backoff": {"type": "fixed", "delay_ms": 10000}%s}}',
            CASE WHEN jitter IS NULL THEN '' ELSE format(', "jitter": "%s"', jitter) END));
        PERFORM t.claim(id);
        PERFORM t.fail(id);
        out := out || ((t.row(id)).delay_until - ff.now_ms());
    END LOOP;
    RETURN out;
END $$;
SELECT t.delays('full', 300) AS full_d \gset
SELECT t.delays('equal', 300) AS equal_d \gset
SELECT ok((SELECT min(d) >= 0 AND max(d) <= 10000 FROM unnest(:'full_d'::bigint[]) d), 'full jitter: every delay in [0, d]');
SELECT ok((SELECT min(d) < 2500 AND max(d) > 7500 FROM unnest(:'full_d'::bigint[]) d), 'full jitter: spread over the range');
SELECT ok((SELECT min(d) >= 5000 AND max(d) <= 10000 FROM unnest(:'equal_d'::bigint[]) d), 'equal jitter: every delay in [d/2, d]');
SELECT ok((SELECT min(d) < 6250 AND max(d) > 8750 FROM unnest(:'equal_d'::bigint[]) d), 'equal jitter: spread over the range');
SELECT is((SELECT array_agg(DISTINCT d) FROM unnest(t.delays('none', 20)) d), ARRAY[10000]::bigint[], 'jitter none: the delay as computed');
SELECT is((SELECT array_agg(DISTINCT d) FROM unnest(t.delays(NULL, 20)) d), ARRAY[10000]::bigint[], 'no jitter: unchanged behaviour');
SELECT is(ff.create_execution(ff.execution_id('jit'), lane_id => 'jit',
          policy_json => '{"retry_policy": {"jitter": "half"}}') ->> 'error', 'invalid_policy_json', 'an unknown jitter is refused');
SELECT is(ff.create_execution(ff.execution_id('jit'), lane_id => 'jit',
          policy_json => '{"retry_policy": {"jitter": 1}}') ->> 'detail', 'retry_policy.jitter:not_none_full_or_equal',
          'a jitter that is not a string is refused');

-- ---- retention by outcome and the dead-letter view ----
SET LOCAL ff_engine.default_retention = '1d';
SET LOCAL ff_engine.retention_failed = '7d';
SET LOCAL ff_engine.retention_cancelled = '3d';
SELECT t.at(t.ms('2026-06-01 00:00:00Z'));
SELECT ff.create_execution(t.id(900 + i), namespace => 'a', lane_id => 'ret') FROM generate_series(1, 4) i;
SELECT t.claim(t.id(901)), t.claim(t.id(902)), t.claim(t.id(904));
SELECT t.complete(t.id(901));
SELECT t.fail(t.id(902), 'disk full');
SELECT ff.cancel_execution(t.id(903), 'no longer needed');
SELECT ff.fail_execution(t.id(904), (t.row(t.id(904))).current_lease_id, (t.row(t.id(904))).current_lease_epoch,
                         (t.row(t.id(904))).current_attempt_id, 'bad input', 'permanent');
SELECT is(array(SELECT (e.purge_after - ff.now_ms()) / 86400000 FROM ff.executions e WHERE e.lane_id = 'ret' ORDER BY e.id),
          ARRAY[1, 7, 3, 7]::bigint[], 'purge_after by outcome: completed 1 d, failed 7 d, cancelled 3 d');
SELECT is(array(SELECT d.id FROM ff.dead_letter d WHERE d.lane_id = 'ret' ORDER BY d.id), ARRAY[t.id(902), t.id(904)],
          'the dead-letter view lists the terminal failures');
SELECT is((SELECT d.last_error FROM ff.dead_letter d WHERE d.id = t.id(902)), 'disk full', 'with their last error');
SELECT is(t.as_role('t_sched_a', $$SELECT count(*) FROM ff.dead_letter$$), '2', 'a tenant sees its namespace''s dead letters');
CREATE ROLE t_sched_b LOGIN IN ROLE ff_reader;
SELECT ff.grant_namespace('t_sched_b', 'b');
SELECT is(t.as_role('t_sched_b', $$SELECT count(*) FROM ff.dead_letter$$), '0', 'another tenant sees none of them');
SELECT t.at(t.ms('2026-06-02 00:00:01Z'));
SELECT ff.trim_retention(100);
SELECT is(array(SELECT e.id FROM ff.executions e WHERE e.lane_id = 'ret' ORDER BY e.id), ARRAY[t.id(902), t.id(903), t.id(904)],
          'after a day the completed one is purged, the failures and the cancellation stay');
SELECT t.at(t.ms('2026-06-04 00:00:01Z'));
SELECT ff.trim_retention(100);
SELECT is(array(SELECT e.id FROM ff.executions e WHERE e.lane_id = 'ret' ORDER BY e.id), ARRAY[t.id(902), t.id(904)],
          'after three days the cancellation is purged');
SELECT t.at(t.ms('2026-06-08 00:00:01Z'));
SELECT ff.trim_retention(100);
SELECT is((SELECT count(*) FROM ff.dead_letter d WHERE d.lane_id = 'ret'), 0::bigint, 'after seven days the failures are purged');
RESET ff_engine.retention_failed;
RESET ff_engine.retention_cancelled;
SELECT ff.create_execution(t.id(911), lane_id => 'ret2');
SELECT t.claim(t.id(911));
SELECT t.fail(t.id(911));
SELECT is(((t.row(t.id(911))).purge_after - ff.now_ms()) / 86400000, 1::bigint,
          'retention_failed unset (-1): failures follow ff_engine.default_retention');

-- schedules are configuration: pg_dump carries them (and their firings)
SELECT ok((SELECT 'ff.schedule'::regclass::oid = ANY (e.extconfig) AND 'ff.schedule_firing'::regclass::oid = ANY (e.extconfig)
           FROM pg_extension e WHERE e.extname = 'ff_engine'), 'ff.schedule and ff.schedule_firing are marked for pg_dump');

SELECT t.invariants('schedules');
SELECT * FROM finish();
ROLLBACK;
