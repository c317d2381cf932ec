-- The shared partition test vector (issue 25): CRC-16/XMODEM and the partitions it
-- gives.  The engine checks it (test/tap/01_ids.sql) and so does the router
-- (test/live/scaleout.sh): both must place every id where the other does.
-- kind 'lane': crc16 of the text's bytes (solo partition of that lane);
-- kind 'uuid': crc16 of the 16 raw bytes (flow, budget and quota partitions).
CREATE TEMP TABLE partition_vector (kind text, input text, crc16 integer, p256 integer, p32 integer);
INSERT INTO partition_vector VALUES
    ('lane', '123456789', 12739, 195, 3),
    ('lane', 'default', 54870, 86, 22),
    ('lane', 'lane-a', 24664, 88, 24),
    ('lane', 'lane-b', 20539, 59, 27),
    ('lane', 'gpu', 14480, 144, 16),
    ('lane', 'email:send', 52802, 66, 2),
    ('lane', 'A', 22757, 229, 5),
    ('uuid', '550e8400-e29b-41d4-a716-446655440000', 36888, 24, 24),
    ('uuid', '00000000-0000-4000-8000-000000000001', 40890, 186, 26),
    ('uuid', 'f0000000-0000-4000-8000-00000000d0f1', 33989, 197, 5),
    ('uuid', 'ffffffff-ffff-4fff-bfff-ffffffffffff', 48958, 62, 30),
    ('uuid', '00000000-0000-4000-b000-00000000d0b1', 27546, 154, 26);
