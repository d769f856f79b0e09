-- 150_purge_redteam3: what a third red-team (of 0.6) found, closed.
--  T1: erase_subject(X) cascaded into other subjects' rows of registered
--      tables (held ones too), unreported.
--  T4: the cascade walk grew exponentially with paths that fork and join.
--  T5: a foreign key whose columns' collations differ broke the whole purge.
--  T6: a child of two registered tables was purged under one's rules, governed by the other's.
-- (T2, a race with a transaction adding a reference: isolation
-- purge_cascade_race; T3 and T7, the worker: TAP 034.)
CREATE ROLE regress_pr3_app LOGIN;
CREATE SCHEMA pr3 AUTHORIZATION regress_pr3_app;

-- T1: erasing xavier must not touch yolanda's rows that reference his
SET ROLE regress_pr3_app;
CREATE TABLE pr3.cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr3.referral (id int PRIMARY KEY, subj text,
	referrer int REFERENCES pr3.cust(id) ON DELETE CASCADE, collected_at timestamptz);
CREATE TABLE pr3.notes (id int PRIMARY KEY, subj text,
	cust_id int REFERENCES pr3.cust(id) ON DELETE SET NULL, collected_at timestamptz);
INSERT INTO pr3.cust VALUES (1, 'xavier', now()), (2, 'yolanda', now()), (3, 'zed', now());
INSERT INTO pr3.referral VALUES (10, 'yolanda', 1, now()), (11, 'zed', 3, now()), (12, 'xavier', 2, now());
INSERT INTO pr3.notes VALUES (20, 'yolanda', 1, now());
RESET ROLE;
SELECT personal_data.register_table('pr3.cust', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('pr3.referral', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('pr3.notes', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.place_hold('yolanda', 'T1') > 0 AS placed;
-- xavier's own referral goes; his customer row stays while yolanda's rows reference it
SELECT personal_data.erase_subject('xavier');
SELECT id, subj, referrer FROM pr3.referral ORDER BY id;
SELECT id, subj, cust_id FROM pr3.notes;
SELECT id, subj FROM pr3.cust ORDER BY id;
-- zed: nothing of another subject references his rows
SELECT personal_data.erase_subject('zed');
SELECT id, subj FROM pr3.cust ORDER BY id;
-- through a table in between, which the erasure order does not see: tried again once freed
SET ROLE regress_pr3_app;
CREATE TABLE pr3.acct (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr3.link (id int PRIMARY KEY, acct int REFERENCES pr3.acct(id) ON DELETE CASCADE);
CREATE TABLE pr3.a_orders (id int PRIMARY KEY, link int REFERENCES pr3.link(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz);
INSERT INTO pr3.acct VALUES (1, 'walt', now());
INSERT INTO pr3.link VALUES (1, 1);
INSERT INTO pr3.a_orders VALUES (1, 1, 'walt', now());
RESET ROLE;
SELECT personal_data.register_table('pr3.acct', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('pr3.a_orders', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.erase_subject('walt');
SELECT count(*) AS walt_left FROM pr3.acct WHERE subj = 'walt';

-- T4: twelve layers of two tables each, every table referencing both above it
SET ROLE regress_pr3_app;
CREATE TABLE pr3.dz (id int PRIMARY KEY, subj text, collected_at timestamptz);
DO $$
DECLARE k int; j int;
BEGIN
	EXECUTE 'CREATE TABLE pr3.d0_1 (id int PRIMARY KEY, a int REFERENCES pr3.dz(id) ON DELETE CASCADE)';
	EXECUTE 'CREATE TABLE pr3.d0_2 (id int PRIMARY KEY, a int REFERENCES pr3.dz(id) ON DELETE CASCADE)';
	FOR k IN 1..12 LOOP
		FOR j IN 1..2 LOOP
			EXECUTE format('CREATE TABLE pr3.d%s_%s (id int PRIMARY KEY, r1 int REFERENCES pr3.d%s_1(id) ON DELETE CASCADE, r2 int REFERENCES pr3.d%s_2(id) ON DELETE CASCADE)', k, j, k - 1, k - 1);
		END LOOP;
	END LOOP;
	EXECUTE 'CREATE TABLE pr3.dbottom (id int PRIMARY KEY, r1 int REFERENCES pr3.d12_1(id) ON DELETE CASCADE, subj text, collected_at timestamptz)';
END $$;
INSERT INTO pr3.dz VALUES (1, 'nothing references it', now() - interval '2 days'),
	(2, 'a chain 4 tables deep references it', now() - interval '2 days'),
	(3, 'only a table that reaches nothing registered yet', now() - interval '2 days');
INSERT INTO pr3.d0_1 VALUES (1, 2), (2, 3);
INSERT INTO pr3.d1_1 VALUES (1, 1, NULL);
INSERT INTO pr3.d2_1 VALUES (1, 1, NULL);
INSERT INTO pr3.d3_1 VALUES (1, 1, NULL);
INSERT INTO pr3.d4_1 VALUES (1, 1, NULL);
RESET ROLE;
SELECT personal_data.register_table('pr3.dz', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr3.dbottom', 'subj', 'collected_at', retention => interval '7 years');
-- bounded: past 4 tables the walk stops short, and a row whose chain goes on is kept, never lost
SELECT length(referenced) <= 20000 AS bounded FROM personal_data._purge_plan('pr3.dz', 'pr3.dz');
SELECT * FROM personal_data.purge_expired('pr3.dz');
SELECT id, subj FROM pr3.dz;

-- T5: the foreign key's columns in different collations
SET ROLE regress_pr3_app;
CREATE TABLE pr3.ca (id text COLLATE "C" PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr3.cb (id int PRIMARY KEY, a_id text COLLATE "POSIX" REFERENCES pr3.ca(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz);
INSERT INTO pr3.ca VALUES ('k1', 's1', now() - interval '2 days'), ('k2', 's2', now() - interval '2 days');
INSERT INTO pr3.cb VALUES (1, 'k1', 's3', now());
RESET ROLE;
SELECT personal_data.register_table('pr3.ca', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr3.cb', 'subj', 'collected_at', retention => interval '7 years');
SELECT * FROM personal_data.purge_expired('pr3.ca', dry_run => true);
SELECT * FROM personal_data.purge_expired('pr3.ca');
SELECT id FROM pr3.ca;

-- T6: a child of a 1-day and a 10-year registered table follows one of them, the same for enforcement and the purge (the first in inheritance order)
SET ROLE regress_pr3_app;
CREATE TABLE pr3.p1 (id int, subj text, collected_at timestamptz);
CREATE TABLE pr3.p2 (id int, subj text, collected_at timestamptz);
CREATE TABLE pr3.kid2 (id int, subj text, collected_at timestamptz);
INSERT INTO pr3.kid2 VALUES (1, 'k', now() - interval '2 days');
RESET ROLE;
SELECT personal_data.register_table('pr3.p1', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr3.p2', 'subj', 'collected_at', retention => interval '10 years');
SET ROLE regress_pr3_app;
ALTER TABLE pr3.kid2 INHERIT pr3.p1;
ALTER TABLE pr3.kid2 INHERIT pr3.p2;
RESET ROLE;
SELECT personal_data._governing_table('pr3.kid2');
SELECT l FROM personal_data._purge_leaves('pr3.p1') l ORDER BY 1;
SELECT l FROM personal_data._purge_leaves('pr3.p2') l ORDER BY 1;
SELECT * FROM personal_data.purge_expired('pr3.p1');
SELECT id FROM pr3.kid2;

-- A fourth red-team, closed:
--  U1: erase_subject on a partitioned table missed a foreign key that references one partition
SET ROLE regress_pr3_app;
CREATE TABLE pr3.pp (id int, subj text, collected_at timestamptz) PARTITION BY RANGE (id);
CREATE TABLE pr3.pp_1 PARTITION OF pr3.pp FOR VALUES FROM (0) TO (100);
ALTER TABLE pr3.pp_1 ADD PRIMARY KEY (id);
CREATE TABLE pr3.rr (id int PRIMARY KEY, subj text, pid int REFERENCES pr3.pp_1(id) ON DELETE CASCADE,
	collected_at timestamptz);
INSERT INTO pr3.pp VALUES (1, 'xena', now()), (2, 'xena', now());
INSERT INTO pr3.rr VALUES (10, 'yuri', 1, now());
RESET ROLE;
SELECT personal_data.register_table('pr3.pp', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr3.rr', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.erase_subject('xena');
SELECT id, subj, pid FROM pr3.rr;
--  U5: a row of the subject's own that stays (anonymized) keeps the row it references: kept, reported
SET ROLE regress_pr3_app;
CREATE TABLE pr3.cu (id int PRIMARY KEY, subj text, name text, collected_at timestamptz);
CREATE TABLE pr3.ord (id int PRIMARY KEY, cu int REFERENCES pr3.cu(id) ON DELETE CASCADE, subj text, name text,
	collected_at timestamptz);
INSERT INTO pr3.cu VALUES (1, 'wendy', 'Wendy W', now()), (2, 'vic', 'Vic V', now());
INSERT INTO pr3.ord VALUES (1, 1, 'wendy', 'Wendy W', now()), (2, 2, 'uma', 'Uma U', now());
RESET ROLE;
SELECT personal_data.define_purpose('pr3_billing', 'customer', 'billing', interval '1 year');
SELECT personal_data.register_table('pr3.cu', 'subj', 'collected_at', retention => interval '1 year');
SELECT personal_data.register_table('pr3.ord', 'subj', 'collected_at', retention => interval '1 year',
	on_expiry => 'anonymize');
SELECT personal_data.label_column('pr3.ord', 'name', ARRAY['pr3_billing']);
SELECT personal_data.erase_subject('wendy');
SELECT personal_data.erase_subject('vic');		-- uma's order keeps vic's row
SELECT id, subj, name FROM pr3.cu ORDER BY id;
SELECT id, subj, name FROM pr3.ord ORDER BY id;
--  U3: an inheritance child that is not registered is read and erased under its parent's rules
SET ROLE regress_pr3_app;
CREATE TABLE pr3.ip (id int PRIMARY KEY, subj text, note text, collected_at timestamptz);
CREATE TABLE pr3.ic (extra text) INHERITS (pr3.ip);
INSERT INTO pr3.ic VALUES (1, 'xander', 'child row', now(), 'x');
RESET ROLE;
SELECT personal_data.register_table('pr3.ip', 'subj', 'collected_at', retention => interval '1 year');
SELECT personal_data.label_column('pr3.ip', 'note', ARRAY['pr3_billing']);
SELECT personal_data.subject_data('xander') -> 'data';
SELECT personal_data.erase_subject('xander');
SELECT count(*) AS xander_left FROM pr3.ip WHERE subj = 'xander';
-- A fifth red-team: V2, a child of two registered tables: its subject column is the one enforcement
-- and subject_data use (the first parent's), for erase_subject's own-subject rule too
SET ROLE regress_pr3_app;
CREATE TABLE pr3.kb (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr3.q1 (s1 text, note text, collected_at timestamptz);
CREATE TABLE pr3.q2 (s2 text, c2 timestamptz);
CREATE TABLE pr3.mq (id int PRIMARY KEY, k int REFERENCES pr3.kb(id) ON DELETE CASCADE) INHERITS (pr3.q1, pr3.q2);
INSERT INTO pr3.kb VALUES (1, 'xena2', now());
INSERT INTO pr3.mq (id, k, s1, note, collected_at, s2, c2) VALUES (1, 1, 'dana', 'dana note', now(), 'xena2', now());
RESET ROLE;
SELECT personal_data.register_table('pr3.kb', 'subj', 'collected_at', retention => interval '1 year');
SELECT personal_data.register_table('pr3.q1', 's1', 'collected_at', retention => interval '1 day');
SELECT personal_data.label_column('pr3.q1', 'note', ARRAY['pr3_billing']);
SELECT personal_data.register_table('pr3.q2', 's2', 'c2', retention => interval '7 years');
SELECT personal_data._governing_table('pr3.mq');
SELECT personal_data.erase_subject('xena2');	-- dana's row (s1) references xena2's: kept
SELECT id, s1, s2 FROM pr3.mq;
--  U2: the walk's work is bounded too: 8 tables a layer, 5 layers, every one referencing all above it
SET ROLE regress_pr3_app;
CREATE TABLE pr3.top (id int PRIMARY KEY, subj text, collected_at timestamptz);
DO $$
DECLARE k int; j int; refs text;
BEGIN
	FOR j IN 1..8 LOOP
		EXECUTE format('CREATE TABLE pr3.l1_%s (id int PRIMARY KEY, a int REFERENCES pr3.top(id) ON DELETE CASCADE)', j);
	END LOOP;
	FOR k IN 2..5 LOOP
		FOR j IN 1..8 LOOP
			SELECT string_agg(format('r%s int REFERENCES pr3.l%s_%s(id) ON DELETE CASCADE', i, k - 1, i), ', ')
			  INTO refs FROM generate_series(1, 8) i;
			EXECUTE format('CREATE TABLE pr3.l%s_%s (id int PRIMARY KEY, %s)', k, j, refs);
		END LOOP;
	END LOOP;
	EXECUTE 'CREATE TABLE pr3.bottom (id int PRIMARY KEY, r int REFERENCES pr3.l5_1(id) ON DELETE CASCADE, subj text, collected_at timestamptz)';
END $$;
INSERT INTO pr3.top VALUES (1, 'old', now() - interval '2 days');
RESET ROLE;
SELECT personal_data.register_table('pr3.top', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr3.bottom', 'subj', 'collected_at', retention => interval '7 years');
SET statement_timeout = '10s';		-- it took 14 s, and the worker was canceled every round
SELECT * FROM personal_data.purge_expired('pr3.top');
RESET statement_timeout;

SELECT personal_data.release_hold(h.id) FROM personal_data.holds h WHERE h.reason = 'T1';
SET client_min_messages = warning;
DROP SCHEMA pr3 CASCADE;
RESET client_min_messages;
DROP ROLE regress_pr3_app;
