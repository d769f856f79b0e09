--
-- 190_purge_redteam5: what a seventh red-team of the purge's and
-- erase_subject's cascade handling found (0.7).
--
\set VERBOSITY terse
SET client_min_messages = warning;

------------------------------------------------------------------------------
-- R1: a partition registered before it was attached: one policy for the
-- tree, the topmost registered table's -- for enforcement, the purge and
-- the subject functions alike.  (A registered table cannot be attached
-- under an unregistered one.)
------------------------------------------------------------------------------
SELECT personal_data.define_purpose('rt5_service', 'customer');
CREATE ROLE regress_rt5_app;
CREATE TABLE rt5_u (id int, subj text, other text, collected_at timestamptz, region text, kind text) PARTITION BY LIST (region);
CREATE TABLE rt5_m (id int, subj text, other text, collected_at timestamptz, region text, kind text) PARTITION BY LIST (kind);
SELECT personal_data.register_table('rt5_m', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.label_column('rt5_m', 'other', ARRAY['rt5_service']);
-- refused since 0.7: queries of rt5_u would bypass rt5_m's policy
ALTER TABLE rt5_u ATTACH PARTITION rt5_m FOR VALUES IN ('jp');
CREATE TABLE rt5_p (id int, subj text, other text, collected_at timestamptz, region text, kind text);
SELECT personal_data.register_table('rt5_p', 'other', 'collected_at', retention => interval '7 years');
ALTER TABLE rt5_m ATTACH PARTITION rt5_p FOR VALUES IN ('a');
CREATE TABLE rt5_q PARTITION OF rt5_m FOR VALUES IN ('b');
GRANT SELECT ON rt5_m, rt5_p, rt5_q TO regress_rt5_app;
SELECT personal_data._rules_in_force('rt5_p'), personal_data._governing_table('rt5_p'),
	   personal_data._governing_table('rt5_q'), personal_data._rules_in_force('rt5_m');
SELECT * FROM personal_data._purge_leaves('rt5_m') ORDER BY 1;
SELECT count(*) FROM personal_data._purge_leaves('rt5_p');
INSERT INTO rt5_m VALUES (1, 'xavier', 'yvonne', now() - interval '30 days', 'jp', 'a'),
	(2, 'zack', 'zoe', now(), 'jp', 'b');
-- enforcement reads the partitions, directly too, under rt5_m's labels
SET ROLE regress_rt5_app;
SELECT id, other FROM rt5_p;
SELECT id, other FROM rt5_q;
RESET ROLE;
SELECT * FROM personal_data.purge_expired('rt5_p');
SELECT * FROM personal_data.purge_expired('rt5_m');
SELECT id, subj FROM rt5_m ORDER BY id;
SELECT personal_data.subject_data('zack') -> 'data';
SELECT personal_data.erase_subject('zack');

------------------------------------------------------------------------------
-- R2: the rows of a thread whose other key to their own table is SET NULL:
-- that change is followed too (here it would change a registered row).
------------------------------------------------------------------------------
CREATE TABLE rt5_users (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt5_comments (id int PRIMARY KEY, user_id int REFERENCES rt5_users ON DELETE CASCADE,
	parent_id int REFERENCES rt5_comments ON DELETE CASCADE,
	quote_of int REFERENCES rt5_comments ON DELETE SET NULL, UNIQUE (id, quote_of));
CREATE TABLE rt5_reports (id int PRIMARY KEY, subj text, collected_at timestamptz, cid int, cq int,
	FOREIGN KEY (cid, cq) REFERENCES rt5_comments (id, quote_of) ON UPDATE CASCADE);
SELECT personal_data.register_table('rt5_users', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('rt5_reports', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt5_users VALUES (1, 'alice', now() - interval '30 days'), (2, 'bob', now()), (3, 'amos', now() - interval '30 days');
-- alice's comment 10, bob's reply 11 (deleted with it), bob's comment 12 quoting 11, reported
INSERT INTO rt5_comments VALUES (10, 1, NULL, NULL), (11, 2, 10, NULL), (12, 2, NULL, 11),
	(20, 3, NULL, NULL), (21, 2, 20, NULL);
INSERT INTO rt5_reports VALUES (1, 'carol', now(), 12, 11);
SELECT * FROM personal_data.purge_expired('rt5_users');
SELECT subj FROM rt5_users ORDER BY id;
SELECT cid, cq FROM rt5_reports;

------------------------------------------------------------------------------
-- R3: SET NULL into the partition key of a table in between: no partition
-- takes the row, the purge keeps it (blocked) and purges the others;
-- erase_subject keeps it too.
------------------------------------------------------------------------------
CREATE TABLE rt5_cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt5_orders (id int, region text, cust_id int REFERENCES rt5_cust ON DELETE SET NULL)
	PARTITION BY LIST (cust_id);
CREATE TABLE rt5_orders_1 PARTITION OF rt5_orders FOR VALUES IN (1);
CREATE TABLE rt5_orders_2 PARTITION OF rt5_orders FOR VALUES IN (2);
SELECT personal_data.register_table('rt5_cust', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO rt5_cust SELECT g, 'c' || g, now() - interval '30 days' FROM generate_series(1, 3) g;
INSERT INTO rt5_orders VALUES (1, 'x', 1), (2, 'y', 2);
SELECT * FROM personal_data.purge_expired('rt5_cust', dry_run => true);
SELECT * FROM personal_data.purge_expired('rt5_cust');
SELECT id FROM rt5_cust ORDER BY id;
SELECT personal_data.erase_subject('c1');

------------------------------------------------------------------------------
-- R4: long threads are walked once per row of the purged table (each
-- chain of 500 events is walked for its user, not from every event)
------------------------------------------------------------------------------
CREATE TABLE rt5_tusers (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt5_events (id int PRIMARY KEY, user_id int REFERENCES rt5_tusers ON DELETE CASCADE,
	prev_id int REFERENCES rt5_events ON DELETE CASCADE);
CREATE TABLE rt5_notes (id int PRIMARY KEY, subj text, collected_at timestamptz,
	event_id int REFERENCES rt5_events ON DELETE CASCADE);
SELECT personal_data.register_table('rt5_tusers', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('rt5_notes', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt5_tusers SELECT g, 'u' || g, now() - interval '30 days' FROM generate_series(1, 20) g;
INSERT INTO rt5_events SELECT u * 100000 + i, CASE WHEN i = 1 THEN u END, CASE WHEN i > 1 THEN u * 100000 + i - 1 END
  FROM generate_series(1, 20) u, generate_series(1, 500) i;
CREATE INDEX ON rt5_events (prev_id);
CREATE INDEX ON rt5_events (user_id);
CREATE INDEX ON rt5_notes (event_id);
-- user 7's last event has a note
INSERT INTO rt5_notes VALUES (1, 'nia', now(), 700500);
ANALYZE rt5_events;
SET statement_timeout = '20s';		-- it took 25 s (91 s with chains of 1,000)
SELECT * FROM personal_data.purge_expired('rt5_tusers');
RESET statement_timeout;
SELECT subj FROM rt5_tusers;
SELECT count(*) FROM rt5_events;

------------------------------------------------------------------------------
-- An eighth round.  S1: erase_subject erases first the tables that an
-- anonymization's key change cascades into (through a table in between).
------------------------------------------------------------------------------
CREATE TABLE rt5_acc (id int PRIMARY KEY, email text UNIQUE, collected_at timestamptz);
SELECT personal_data.register_table('rt5_acc', 'email', 'collected_at', on_expiry => 'anonymize', retention => interval '7 years');
SELECT personal_data.label_column('rt5_acc', 'email', ARRAY['rt5_service']);
CREATE TABLE rt5_mx (id int PRIMARY KEY, email text UNIQUE REFERENCES rt5_acc (email) ON UPDATE CASCADE);
CREATE TABLE rt5_zb (id int PRIMARY KEY, email text REFERENCES rt5_mx (email) ON UPDATE CASCADE, address text, collected_at timestamptz);
SELECT personal_data.register_table('rt5_zb', 'email', 'collected_at', retention => interval '7 years');
SELECT personal_data.label_column('rt5_zb', 'address', ARRAY['rt5_service']);
INSERT INTO rt5_acc VALUES (1, 'alice@x', now());
INSERT INTO rt5_mx VALUES (1, 'alice@x');
INSERT INTO rt5_zb VALUES (1, 'alice@x', '1 Main St', now());
SELECT personal_data.erase_subject('alice@x');
SELECT count(*) AS alice_addresses FROM rt5_zb;

-- S6: a CHECK of the table itself that anonymization would break fails
-- the purge with its error (it is not a cascade's check)
CREATE TABLE rt5_c (id int PRIMARY KEY, subj text, email text, phone text, collected_at timestamptz,
	CHECK (email IS NOT NULL OR phone IS NOT NULL));
SELECT personal_data.register_table('rt5_c', 'subj', 'collected_at', on_expiry => 'anonymize', retention => interval '1 day');
SELECT personal_data.label_column('rt5_c', 'email', ARRAY['rt5_service']);
SELECT personal_data.label_column('rt5_c', 'phone', ARRAY['rt5_service']);
INSERT INTO rt5_c VALUES (1, 'alice', 'a@x', '123', now() - interval '30 days');
SELECT * FROM personal_data.purge_expired('rt5_c');
\set VERBOSITY terse
SELECT personal_data.erase_subject('alice');

RESET client_min_messages;
