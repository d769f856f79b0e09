-- 07_purge.sql: the retention rules of DESIGN.md §5 at each boundary, through
-- purge_expired(): just expired, not yet, NULL collected_at, held, released
-- hold, expired hold, anonymize (and not again), a row a foreign key keeps,
-- NULL retention, dry run, purge_log; the partition fast path (a partition
-- whose bounds lie before the cutoff is dropped whole) and every case where
-- it must not be taken.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(40);

SELECT personal_data.define_purpose('rp_month', 'customer', 'kept a month', retention => '30 days');
SELECT personal_data.define_purpose('rp_forever', 'customer', 'no retention');

CREATE TABLE rp_people (id int PRIMARY KEY, subject text NOT NULL, name text, collected timestamptz);
INSERT INTO rp_people VALUES
	(1, 's1', 'just expired', now() - interval '30 days 1 minute'),
	(2, 's2', 'not yet', now() - interval '29 days 23 hours'),
	(3, 's3', 'held', now() - interval '90 days'),
	(4, 's4', 'released hold', now() - interval '90 days'),
	(5, 's5', 'kept by an order', now() - interval '90 days'),
	(6, 's6', 'no date', NULL),
	(7, 's7', 'hold expired', now() - interval '90 days');
CREATE TABLE rp_orders (id int PRIMARY KEY, person int REFERENCES rp_people (id));
INSERT INTO rp_orders VALUES (1, 5);
SELECT personal_data.register_table('rp_people', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_people', 'name', ARRAY['rp_month']);
SELECT personal_data.place_hold('s3', 'litigation') > 0;
SELECT personal_data.release_hold(personal_data.place_hold('s4', 'closed case'));
INSERT INTO personal_data.holds (subject, reason, placed_at, until)
VALUES ('s7', 'old hold', now() - interval '10 days', now() - interval '1 day');

SELECT results_eq($$SELECT rel::text, purged, anonymized, held, blocked FROM personal_data.purge_expired('rp_people', dry_run => true)$$,
	$$VALUES ('rp_people', 3::bigint, 0::bigint, 1::bigint, 1::bigint)$$,
	'dry run: 3 to delete (1, 4, 7), 1 held, 1 a foreign key keeps (5), as the real run will; nothing deleted');
SELECT is((SELECT count(*)::int FROM rp_people), 7, 'the dry run deleted nothing');
SELECT results_eq($$SELECT rel::text, purged, anonymized, held, blocked FROM personal_data.purge_expired('rp_people')$$,
	$$VALUES ('rp_people', 3::bigint, 0::bigint, 1::bigint, 1::bigint)$$,
	'purge: 3 deleted, 1 held, 1 kept by a foreign key');
SELECT is((SELECT array_agg(id ORDER BY id) FROM rp_people), ARRAY[2, 3, 5, 6],
	'kept: not yet expired, held, referenced, without a date');
SELECT ok(NOT EXISTS (SELECT 1 FROM rp_people WHERE id = 1), 'a row a minute past its retention is deleted');
SELECT ok(EXISTS (SELECT 1 FROM rp_people WHERE id = 2), 'a row an hour before its retention stays');
SELECT ok(EXISTS (SELECT 1 FROM rp_people WHERE id = 3), 'a held subject''s row stays');
SELECT ok(NOT EXISTS (SELECT 1 FROM rp_people WHERE id = 4), 'a released hold keeps nothing');
SELECT ok(NOT EXISTS (SELECT 1 FROM rp_people WHERE id = 7), 'an expired hold keeps nothing');
SELECT ok(EXISTS (SELECT 1 FROM rp_people WHERE id = 6), 'a row without collected_at never expires');
SELECT results_eq($$SELECT relation, purged, held, blocked, dry_run, partitions_dropped, started_by = session_user, finished_at IS NOT NULL
	FROM personal_data.purge_log ORDER BY id$$,
	$$VALUES ('public.rp_people', 3::bigint, 1::bigint, 1::bigint, true, '{}'::text[], true, true),
			 ('public.rp_people', 3::bigint, 1::bigint, 1::bigint, false, '{}'::text[], true, true)$$,
	'each run is in purge_log, with who started it and when it finished');

-- anonymize: the labelled columns become NULL, the row stays, and only once
CREATE TABLE rp_anon (id int PRIMARY KEY, subject text NOT NULL, name text, note text, collected timestamptz);
INSERT INTO rp_anon VALUES (1, 'a1', 'x', 'keep', now() - interval '60 days'), (2, 'a2', 'y', 'keep', now());
SELECT personal_data.register_table('rp_anon', 'subject', collected_at_column => 'collected', on_expiry => 'anonymize');
SELECT personal_data.label_column('rp_anon', 'name', ARRAY['rp_month']);
SELECT results_eq($$SELECT purged, anonymized FROM personal_data.purge_expired('rp_anon')$$,
	$$VALUES (0::bigint, 1::bigint)$$, 'anonymize: one row anonymized, none deleted');
SELECT is((SELECT array_agg(coalesce(name, '-') || '/' || note ORDER BY id) FROM rp_anon), ARRAY['-/keep', 'y/keep'],
	'the labelled column is NULL, the others and the row stay');
SELECT results_eq($$SELECT purged, anonymized FROM personal_data.purge_expired('rp_anon')$$,
	$$VALUES (0::bigint, 0::bigint)$$, 'an anonymized row is not anonymized again');

-- NULL retention: nothing expires
CREATE TABLE rp_forever (id int PRIMARY KEY, subject text NOT NULL, name text, collected timestamptz);
INSERT INTO rp_forever VALUES (1, 'f1', 'x', now() - interval '100 years');
SELECT personal_data.register_table('rp_forever', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_forever', 'name', ARRAY['rp_forever']);
SELECT results_eq($$SELECT purged, anonymized, held, blocked FROM personal_data.purge_expired('rp_forever')$$,
	$$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint)$$, 'a purpose without retention keeps rows forever');
SELECT throws_ok($$SELECT * FROM personal_data.purge_expired('rp_orders')$$, '22023', NULL,
	'an unregistered table is refused');

SELECT throws_ok($$SELECT * FROM personal_data.purge_expired('rp_people', NULL)$$, '22004',
	'dry_run must not be NULL', 'dry_run NULL is refused');

-- The partition fast path.  Partitions by month of collected_at, retention 30 days.
CREATE TABLE rp_events (id int, subject text NOT NULL, name text, collected timestamptz NOT NULL)
	PARTITION BY RANGE (collected);
CREATE TABLE rp_events_old PARTITION OF rp_events FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
CREATE TABLE rp_events_held PARTITION OF rp_events FOR VALUES FROM ('2020-02-01') TO ('2020-03-01');
CREATE TABLE rp_events_empty PARTITION OF rp_events FOR VALUES FROM ('2020-03-01') TO ('2020-04-01');
-- bounds end before the cutoff by an hour: provably all expired
SELECT format('CREATE TABLE rp_events_edge PARTITION OF rp_events FOR VALUES FROM (%L) TO (%L)',
			  '2020-04-01', now() - interval '30 days 1 hour') \gexec
-- bounds straddle the cutoff: some rows expired, some not
SELECT format('CREATE TABLE rp_events_current PARTITION OF rp_events FOR VALUES FROM (%L) TO (%L)',
			  now() - interval '30 days 1 hour', now() + interval '1 year') \gexec
CREATE TABLE rp_events_default PARTITION OF rp_events DEFAULT;
INSERT INTO rp_events SELECT g, 'e' || g, 'n', '2020-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 100) g;
INSERT INTO rp_events VALUES (101, 'eh', 'held', '2020-02-10'), (102, 'e102', 'n', '2020-02-11'),
	(103, 'e103', 'n', now() - interval '31 days'), (104, 'e104', 'n', now() - interval '40 days'),
	(105, 'e105', 'n', now() - interval '30 days 30 minutes'), (106, 'e106', 'n', now()),
	(107, 'e107', 'n', '2019-01-01');
SELECT personal_data.register_table('rp_events', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_events', 'name', ARRAY['rp_month']);
SELECT personal_data.place_hold('eh', 'case') > 0;

SELECT results_eq($$SELECT purged, held FROM personal_data.purge_expired('rp_events', dry_run => true)$$,
	$$VALUES (105::bigint, 1::bigint)$$, 'dry run on partitions: 105 expired, 1 held');
SELECT is((SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'public.rp_events'),
	ARRAY['public.rp_events_edge', 'public.rp_events_old'], 'the dry run names the partitions it would drop');
SELECT is((SELECT count(*)::int FROM rp_events), 107, 'and drops nothing');
SELECT results_eq($$SELECT purged, held FROM personal_data.purge_expired('rp_events')$$,
	$$VALUES (105::bigint, 1::bigint)$$, 'purge on partitions: 105 gone, 1 held');
SELECT is((SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'public.rp_events' AND NOT dry_run),
	ARRAY['public.rp_events_edge', 'public.rp_events_old'], 'the partitions dropped are logged');
SELECT hasnt_table('rp_events_old', 'a partition of expired rows is dropped');
SELECT hasnt_table('rp_events_edge', 'a partition ending before the cutoff is dropped');
SELECT has_table('rp_events_held', 'a partition holding a held subject stays');
SELECT is((SELECT array_agg(id) FROM rp_events_held), ARRAY[101], '... with only the held row in it');
SELECT has_table('rp_events_empty', 'an empty partition stays');
SELECT is((SELECT array_agg(id ORDER BY id) FROM rp_events_current), ARRAY[106],
	'a partition straddling the cutoff loses its expired rows one by one');
SELECT has_table('rp_events_default', 'the default partition is never dropped');
SELECT is((SELECT count(*)::int FROM rp_events_default), 0, '... its expired rows are deleted');
SELECT is((SELECT array_agg(id ORDER BY id) FROM rp_events), ARRAY[101, 106], 'what is left: the held row, the current row');

-- list partitions, foreign keys, delete triggers, anonymize: rows one by one, partitions stay
CREATE TABLE rp_by_region (id int, region text, subject text NOT NULL, name text, collected timestamptz NOT NULL)
	PARTITION BY LIST (region);
CREATE TABLE rp_by_region_jp PARTITION OF rp_by_region FOR VALUES IN ('jp');
INSERT INTO rp_by_region VALUES (1, 'jp', 'r1', 'n', '2020-01-01');
SELECT personal_data.register_table('rp_by_region', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_by_region', 'name', ARRAY['rp_month']);
SELECT results_eq($$SELECT purged FROM personal_data.purge_expired('rp_by_region')$$, $$VALUES (1::bigint)$$,
	'a list partition of expired rows: the rows go');
SELECT has_table('rp_by_region_jp', '... the partition stays (future rows go there)');

CREATE TABLE rp_fk (id int, subject text NOT NULL, name text, collected timestamptz NOT NULL,
	PRIMARY KEY (id, collected)) PARTITION BY RANGE (collected);
CREATE TABLE rp_fk_old PARTITION OF rp_fk FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
INSERT INTO rp_fk VALUES (1, 'f1', 'n', '2020-01-05'), (2, 'f2', 'n', '2020-01-06');
CREATE TABLE rp_fk_ref (id int, at timestamptz, FOREIGN KEY (id, at) REFERENCES rp_fk);
INSERT INTO rp_fk_ref VALUES (1, '2020-01-05');
SELECT personal_data.register_table('rp_fk', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_fk', 'name', ARRAY['rp_month']);
SELECT results_eq($$SELECT purged, blocked FROM personal_data.purge_expired('rp_fk')$$, $$VALUES (1::bigint, 1::bigint)$$,
	'a referenced partitioned table: rows one by one, the referenced one blocked');
SELECT has_table('rp_fk_old', '... the partition stays');

CREATE TABLE rp_trig (id int, subject text NOT NULL, name text, collected timestamptz NOT NULL) PARTITION BY RANGE (collected);
CREATE TABLE rp_trig_old PARTITION OF rp_trig FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
INSERT INTO rp_trig VALUES (1, 't1', 'n', '2020-01-05'), (2, 't2', 'n', '2020-01-06');
CREATE TABLE rp_trig_seen (id int);
CREATE FUNCTION rp_trig_note() RETURNS trigger LANGUAGE plpgsql AS
	$$BEGIN INSERT INTO public.rp_trig_seen VALUES (OLD.id); RETURN OLD; END$$;
CREATE TRIGGER rp_trig_note AFTER DELETE ON rp_trig FOR EACH ROW EXECUTE FUNCTION rp_trig_note();
SET LOCAL client_min_messages = error;  -- the warning about the trigger is for 03_tables_labels
SELECT personal_data.register_table('rp_trig', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('rp_trig', 'name', ARRAY['rp_month']);
SELECT results_eq($$SELECT purged FROM personal_data.purge_expired('rp_trig')$$, $$VALUES (2::bigint)$$,
	'a partition with a delete trigger: its rows go');
SELECT is((SELECT array_agg(id ORDER BY id) FROM rp_trig_seen), ARRAY[1, 2], '... one by one, the trigger sees each');
SELECT has_table('rp_trig_old', '... the partition stays');

CREATE TABLE rp_anon_part (id int, subject text NOT NULL, name text, collected timestamptz NOT NULL) PARTITION BY RANGE (collected);
CREATE TABLE rp_anon_part_old PARTITION OF rp_anon_part FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
INSERT INTO rp_anon_part VALUES (1, 'a1', 'n', '2020-01-05');
SELECT personal_data.register_table('rp_anon_part', 'subject', collected_at_column => 'collected', on_expiry => 'anonymize');
SELECT personal_data.label_column('rp_anon_part', 'name', ARRAY['rp_month']);
SELECT results_eq($$SELECT purged, anonymized FROM personal_data.purge_expired('rp_anon_part')$$, $$VALUES (0::bigint, 1::bigint)$$,
	'on_expiry anonymize: a whole expired partition is anonymized, not dropped');
SELECT is((SELECT name FROM rp_anon_part_old), NULL, '... its labelled column NULL');

SELECT * FROM finish();
ROLLBACK;
