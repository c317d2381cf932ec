-- Identifiers and partitions: behaviour/execution §1, checklist 1-2.
BEGIN;
\ir helpers.psql

-- 1. ids parse; malformed ones are rejected; N >= partition count still parses
SELECT is((ff.parse_execution_id('{fp:7}:550e8400-e29b-41d4-a716-446655440000')).partition, 7::smallint, 'id partition parses');
SELECT is((ff.parse_execution_id('{fp:7}:550E8400-E29B-41D4-A716-446655440000')).execution_uuid,
          '550e8400-e29b-41d4-a716-446655440000'::uuid, 'id uuid parses, any case');
SELECT is((ff.parse_execution_id('{fp:65535}:550e8400-e29b-41d4-a716-446655440000')).execution_uuid,
          '550e8400-e29b-41d4-a716-446655440000'::uuid, 'N = 65535 parses (not checked against the partition count)');
SELECT throws_ok($$SELECT ff.parse_execution_id('550e8400-e29b-41d4-a716-446655440000')$$, '22P02', NULL, 'missing tag rejected');
SELECT throws_ok($$SELECT ff.parse_execution_id('{fp:65536}:550e8400-e29b-41d4-a716-446655440000')$$, '22P02', NULL, 'N > 65535 rejected');
SELECT throws_ok($$SELECT ff.parse_execution_id('{fp:1}:not-a-uuid')$$, '22P02', NULL, 'non-UUID suffix rejected');
SELECT throws_ok($$SELECT ff.parse_execution_id('{fp:-1}:550e8400-e29b-41d4-a716-446655440000')$$, '22P02', NULL, 'negative N rejected');
SELECT throws_ok($$SELECT ff.parse_execution_id('{fp:1}550e8400-e29b-41d4-a716-446655440000')$$, '22P02', NULL, 'missing colon rejected');
SELECT throws_ok($$SELECT ff.parse_execution_id('{fp:1}:550e8400e29b41d4a716446655440000')$$, '22P02', NULL, 'unhyphenated uuid rejected');
SELECT is(ff.format_execution_id(7::smallint, '550e8400-e29b-41d4-a716-446655440000'),
          '{fp:7}:550e8400-e29b-41d4-a716-446655440000', 'format round-trips');

-- 2. CRC-16/XMODEM and the partitioners
SELECT is(ff.crc16('123456789'::bytea), x'31C3'::integer, 'crc16("123456789") = 0x31C3');
SELECT is(ff.crc16(''::bytea), 0, 'crc16 of nothing is 0');
SELECT is(ff.solo_partition('default'), (ff.crc16('default'::bytea) % 256)::smallint, 'solo partition of lane default = crc16("default") mod 256');
SELECT is((ff.parse_execution_id(ff.execution_id('default'))).partition, ff.solo_partition('default'), 'minted solo id carries the lane partition');
SELECT is(ff.flow_partition('550e8400-e29b-41d4-a716-446655440000'),
          (ff.crc16(decode('550e8400e29b41d4a716446655440000', 'hex')) % 256)::smallint,
          'flow partition hashes the 16 raw uuid bytes');
SELECT is((ff.parse_execution_id(ff.flow_member_execution_id('550e8400-e29b-41d4-a716-446655440000'))).partition,
          ff.flow_partition('550e8400-e29b-41d4-a716-446655440000'), 'flow members share the flow partition');
SELECT is(ff.budget_partition('550e8400-e29b-41d4-a716-446655440000'),
          (ff.crc16(decode('550e8400e29b41d4a716446655440000', 'hex')) % 32)::smallint, 'budget partition mod 32');
SELECT is(ff.quota_partition('550e8400-e29b-41d4-a716-446655440000'),
          (ff.crc16(decode('550e8400e29b41d4a716446655440000', 'hex')) % 32)::smallint, 'quota partition mod 32');
SELECT isnt(ff.execution_id(), ff.execution_id(), 'minted ids are unique');
SELECT matches(ff.execution_id(), '^\{fp:\d+\}:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$', 'minted ids are v7 uuids');
SELECT matches(ff.flow_member_execution_id(gen_random_uuid()), '^\{fp:\d+\}:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$', 'minted flow member ids are v7 uuids');
-- their first 48 bits are the wall clock's Unix milliseconds (not the test clock)
SELECT ok(abs(('x' || lpad(replace(left(split_part(ff.execution_id(), '}:', 2), 13), '-', ''), 16, '0'))::bit(64)::bigint
              - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 5000,
          'a minted id starts with the wall clock in ms');
-- ids one backend mints sort in minting order, within a millisecond too
SELECT is((SELECT count(*) FROM (SELECT u, lag(u) OVER (ORDER BY i) AS prev
                                   FROM (SELECT i, split_part(ff.execution_id('order'), '}:', 2)::uuid AS u
                                           FROM generate_series(1, 5000) AS i) s) t
            WHERE u <= prev), 0::bigint, '5000 ids minted in a row are strictly ascending');
SELECT throws_ok($$SELECT ff.execution_id('')$$, '22023', NULL, 'empty lane rejected when minting');
SELECT throws_ok($$SELECT ff.execution_id(repeat('x', 65))$$, '22023', NULL, 'lane over 64 bytes rejected');
SELECT throws_ok($$SELECT ff.execution_id(E'a\tb')$$, '22023', NULL, 'lane with control character rejected');

-- partition configuration refuses a mismatched reconfiguration once executions exist
SELECT ok(ff.set_partition_config(256, 32, 32), 'same configuration accepted');
SELECT ok(ff.set_partition_config(64, 32, 32), 'reconfiguration accepted while empty');
SELECT is(ff.solo_partition('default'), (ff.crc16('default'::bytea) % 64)::smallint, 'new count used');
SELECT ok(ff.set_partition_config(256), 'back to 256');
SELECT ff.create_execution(t.id(1));
SELECT throws_ok($$SELECT ff.set_partition_config(128)$$, '55000', NULL, 'reconfiguration refused while executions exist');
SELECT ok(ff.set_partition_config(256, 32, 32), 'unchanged configuration still accepted');
SELECT throws_ok($$SELECT ff.set_partition_config(0)$$, '22023', NULL, 'zero partitions rejected');
SELECT throws_ok($$SELECT ff.create_execution('{fp:300}:00000000-0000-4000-8000-000000000001')$$, '22023', NULL,
                 'create refuses an id whose partition is outside the configuration');

-- the shared partition test vector: test/live/scaleout.sh checks the router on the same rows
\ir ../vectors/partition.sql
SELECT is((SELECT count(*) FROM partition_vector v
           WHERE CASE v.kind WHEN 'lane' THEN ff.crc16(convert_to(v.input, 'UTF8')) <> v.crc16
                                              OR ff.solo_partition(v.input) <> v.p256
                             ELSE ff.crc16(decode(replace(v.input, '-', ''), 'hex')) <> v.crc16
                                  OR ff.flow_partition(v.input::uuid) <> v.p256
                                  OR ff.budget_partition(v.input::uuid) <> v.p32
                                  OR ff.quota_partition(v.input::uuid) <> v.p32 END),
          0::bigint, 'the shared partition vector (test/vectors/partition.sql) holds');

SELECT cmp_ok((SELECT n FROM t.transitions), '>', 0::bigint, 'transitions checked by the invariant trigger');
SELECT * FROM t.invariants('the whole suite');
SELECT * FROM finish();
ROLLBACK;
