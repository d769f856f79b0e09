--
-- 170_purge_redteam4: what a sixth red-team of the purge's and
-- erase_subject's cascade handling found (0.7), each case as it was
-- reported: the rows the policy keeps stay, the rows it purges go.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT personal_data.define_purpose('rt4_service', 'customer');

------------------------------------------------------------------------------
-- F1: an unregistered partitioned table in between, with a partition
-- registered before it was attached: since 0.7 such an ATTACH is refused
-- (queries of the partitioned table would bypass the policy); a tree made
-- before 0.7 is still walked into (the cascade reaches the partition's rows)
-- but cannot be built here.  Its partitions are then ordinary ones.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f1;
CREATE TABLE rt4_f1.cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt4_f1.orders (id int, cust_id int REFERENCES rt4_f1.cust(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz, region text) PARTITION BY LIST (region);
CREATE TABLE rt4_f1.orders_jp (id int, cust_id int, subj text, collected_at timestamptz, region text);
CREATE TABLE rt4_f1.orders_us PARTITION OF rt4_f1.orders FOR VALUES IN ('us');
SELECT personal_data.register_table('rt4_f1.orders_jp', 'subj', 'collected_at', retention => interval '7 years');
ALTER TABLE rt4_f1.orders ATTACH PARTITION rt4_f1.orders_jp FOR VALUES IN ('jp');
SELECT personal_data.unregister_table('rt4_f1.orders_jp');
ALTER TABLE rt4_f1.orders ATTACH PARTITION rt4_f1.orders_jp FOR VALUES IN ('jp');
SELECT personal_data.register_table('rt4_f1.cust', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO rt4_f1.cust VALUES (1, 'alice', now() - interval '30 days'),
	(2, 'amy', now() - interval '30 days'), (3, 'ann', now() - interval '30 days');
-- bob's order of alice's (fresh), an expired order of amy's, an unregistered one of ann's
INSERT INTO rt4_f1.orders VALUES (100, 1, 'bob', now(), 'jp'), (101, 2, 'amy', now() - interval '8 years', 'jp'),
	(102, 3, 'ann', now(), 'us');
SELECT * FROM personal_data.purge_expired('rt4_f1.cust', dry_run => true);
SELECT * FROM personal_data.purge_expired('rt4_f1.cust');
SELECT subj FROM rt4_f1.cust ORDER BY id;
SELECT tableoid::regclass, id, subj FROM rt4_f1.orders ORDER BY id;
-- erase_subject: carol's customer row, dave's (held) order in the registered partition
INSERT INTO rt4_f1.cust VALUES (4, 'carol', now());
INSERT INTO rt4_f1.orders VALUES (103, 4, 'dave', now(), 'jp');
SELECT personal_data.place_hold('dave', 'litigation') > 0 AS hold_placed;
SELECT personal_data.erase_subject('carol');
SELECT id, subj FROM rt4_f1.orders WHERE subj = 'dave';

-- F1c: a registered table referencing one partition of an unregistered tree
CREATE TABLE rt4_f1.orders2 (id int, region text, cust_id int REFERENCES rt4_f1.cust(id) ON DELETE CASCADE,
	PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE rt4_f1.orders2_jp PARTITION OF rt4_f1.orders2 FOR VALUES IN ('jp');
CREATE TABLE rt4_f1.shipments (id int PRIMARY KEY, subj text, collected_at timestamptz,
	order_id int, region text, FOREIGN KEY (order_id, region) REFERENCES rt4_f1.orders2_jp ON DELETE CASCADE);
SELECT personal_data.register_table('rt4_f1.shipments', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt4_f1.cust VALUES (5, 'yan', now() - interval '30 days');
INSERT INTO rt4_f1.orders2 VALUES (200, 'jp', 5);
INSERT INTO rt4_f1.shipments VALUES (1, 'zoe', now(), 200, 'jp');
SELECT * FROM personal_data.purge_expired('rt4_f1.cust');
SELECT count(*) AS zoe_shipments FROM rt4_f1.shipments;
DELETE FROM rt4_f1.shipments;
SELECT * FROM personal_data.purge_expired('rt4_f1.cust');
SELECT subj FROM rt4_f1.cust ORDER BY id;
SELECT personal_data.release_hold(id) FROM personal_data.holds WHERE subject = 'dave';

------------------------------------------------------------------------------
-- F2: a partition labelled before it was attached to a registered tree:
-- the tree's rules govern it; its own are not purged with.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f2;
CREATE TABLE rt4_f2.events (id int, subj text, collected_at timestamptz) PARTITION BY RANGE (id);
SELECT personal_data.register_table('rt4_f2.events', 'subj', 'collected_at', retention => interval '7 years');
CREATE TABLE rt4_f2.events_old (id int, subj text, collected_at timestamptz);
SELECT personal_data.register_table('rt4_f2.events_old', 'subj', 'collected_at', retention => interval '1 day');
ALTER TABLE rt4_f2.events ATTACH PARTITION rt4_f2.events_old FOR VALUES FROM (0) TO (1000);
INSERT INTO rt4_f2.events VALUES (1, 'erin', now() - interval '30 days'), (2, 'eve', now() - interval '8 years');
SELECT * FROM personal_data.purge_expired() WHERE rel::text LIKE 'rt4_f2.%';
SELECT id, subj FROM rt4_f2.events ORDER BY id;
SELECT * FROM personal_data.purge_expired('rt4_f2.events_old');

------------------------------------------------------------------------------
-- F3: a stored generated key computed from a column the purge nulls (or a
-- cascade sets NULL) changes with it: its ON UPDATE CASCADE is followed.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f3;
CREATE TABLE rt4_f3.contacts (id int PRIMARY KEY, subj text, email text,
	email_key text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE, collected_at timestamptz);
CREATE TABLE rt4_f3.tickets (id int PRIMARY KEY, subj text, collected_at timestamptz,
	contact_email text REFERENCES rt4_f3.contacts(email_key) ON UPDATE CASCADE);
SELECT personal_data.register_table('rt4_f3.contacts', 'subj', 'collected_at', on_expiry => 'anonymize', retention => interval '1 day');
SELECT personal_data.label_column('rt4_f3.contacts', 'email', ARRAY['rt4_service']);
SELECT personal_data.register_table('rt4_f3.tickets', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt4_f3.contacts (id, subj, email, collected_at) VALUES
	(1, 'frank', 'Frank@Example.com', now() - interval '30 days'),
	(2, 'fay', 'Fay@Example.com', now() - interval '30 days');
INSERT INTO rt4_f3.tickets VALUES (10, 'gina', now(), 'frank@example.com');
SELECT * FROM personal_data.purge_expired('rt4_f3.contacts');
SELECT id, email, email_key FROM rt4_f3.contacts ORDER BY id;
SELECT id, contact_email FROM rt4_f3.tickets;
-- deletion, SET NULL in a table in between, then ON UPDATE CASCADE of a generated key
CREATE TABLE rt4_f3.cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt4_f3.accounts (id int PRIMARY KEY, cust_id int REFERENCES rt4_f3.cust(id) ON DELETE SET NULL,
	acct_key text GENERATED ALWAYS AS (coalesce(cust_id::text, 'orphan') || '-' || id) STORED UNIQUE);
CREATE TABLE rt4_f3.statements (id int PRIMARY KEY, subj text, collected_at timestamptz,
	acct_key text REFERENCES rt4_f3.accounts(acct_key) ON UPDATE CASCADE);
SELECT personal_data.register_table('rt4_f3.cust', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('rt4_f3.statements', 'subj', 'collected_at', retention => interval '10 years');
INSERT INTO rt4_f3.cust VALUES (1, 'uma', now() - interval '30 days'), (2, 'una', now() - interval '30 days');
INSERT INTO rt4_f3.accounts (id, cust_id) VALUES (7, 1), (8, 2);
INSERT INTO rt4_f3.statements VALUES (1, 'vic', now(), '1-7');
SELECT * FROM personal_data.purge_expired('rt4_f3.cust');
SELECT subj FROM rt4_f3.cust;
SELECT id, acct_key FROM rt4_f3.statements;

------------------------------------------------------------------------------
-- F4: expired rows that reference themselves or each other go; a cascade
-- that reaches a row which must stay (not expired, or held) keeps the row.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f4;
CREATE TABLE rt4_f4.person (id int PRIMARY KEY, subj text, collected_at timestamptz,
	spouse_id int REFERENCES rt4_f4.person(id) ON DELETE SET NULL,
	household_head int REFERENCES rt4_f4.person(id) ON DELETE CASCADE);
SELECT personal_data.register_table('rt4_f4.person', 'subj', 'collected_at', retention => interval '1 year');
INSERT INTO rt4_f4.person VALUES
	(1, 'hank', now() - interval '5 years', NULL, 1),
	(2, 'ida', now() - interval '5 years', NULL, NULL),
	(3, 'jack', now() - interval '5 years', NULL, NULL),
	(4, 'kay', now() - interval '5 years', NULL, NULL),
	(5, 'lou', now(), NULL, NULL),
	(6, 'max', now() - interval '5 years', NULL, NULL),
	(7, 'ned', now() - interval '5 years', NULL, NULL);
UPDATE rt4_f4.person SET spouse_id = 3 WHERE id = 2;
UPDATE rt4_f4.person SET spouse_id = 2 WHERE id = 3;
-- kay's spouse lou is not expired: setting his spouse_id to NULL would change him
UPDATE rt4_f4.person SET spouse_id = 4 WHERE id = 5;
-- ned (expired) is held: his spouse_id names max
UPDATE rt4_f4.person SET spouse_id = 6 WHERE id = 7;
SELECT personal_data.place_hold('ned', 'inquiry') > 0 AS hold_placed;
SELECT * FROM personal_data.purge_expired('rt4_f4.person', dry_run => true);
SELECT * FROM personal_data.purge_expired('rt4_f4.person');
SELECT id, subj, spouse_id FROM rt4_f4.person ORDER BY id;
SELECT personal_data.release_hold(id) FROM personal_data.holds WHERE subject = 'ned';

------------------------------------------------------------------------------
-- F6: anonymize, a labelled column in the partition key: reported like a
-- NOT NULL column, for every partition, and the run goes on.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f6;
CREATE TABLE rt4_f6.members (id int, subj text, country text, email text, collected_at timestamptz) PARTITION BY LIST (country);
CREATE TABLE rt4_f6.members_jp PARTITION OF rt4_f6.members FOR VALUES IN ('JP');
CREATE TABLE rt4_f6.members_other PARTITION OF rt4_f6.members DEFAULT;
SELECT personal_data.register_table('rt4_f6.members', 'subj', 'collected_at', on_expiry => 'anonymize', retention => interval '1 day');
SELECT personal_data.label_column('rt4_f6.members', 'country', ARRAY['rt4_service']);
SELECT personal_data.label_column('rt4_f6.members', 'email', ARRAY['rt4_service']);
INSERT INTO rt4_f6.members VALUES (1, 'nora', 'JP', 'n@example.com', now() - interval '30 days'),
	(2, 'otto', 'DE', 'o@example.com', now() - interval '30 days');
SELECT * FROM personal_data.purge_expired('rt4_f6.members');
SELECT personal_data._partition_key_columns('rt4_f6.members_jp');
CREATE TABLE rt4_f6.by_expr (a int, b int, c int) PARTITION BY RANGE ((a + b));
CREATE TABLE rt4_f6.by_expr_1 PARTITION OF rt4_f6.by_expr FOR VALUES FROM (0) TO (10) PARTITION BY LIST (c);
SELECT personal_data._partition_key_columns('rt4_f6.by_expr_1');

------------------------------------------------------------------------------
-- F7, F8: erase_subject counts what it erased in every table (tables a
-- cascade reaches are erased first), and a foreign key that refuses a row's
-- erasure keeps that row, reported, without failing the rest.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f7;
CREATE TABLE rt4_f7.a_acct (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt4_f7.link (id int PRIMARY KEY, acct int REFERENCES rt4_f7.a_acct(id) ON DELETE CASCADE);
CREATE TABLE rt4_f7.b_orders (id int PRIMARY KEY, link int REFERENCES rt4_f7.link(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz);
SELECT personal_data.register_table('rt4_f7.a_acct', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('rt4_f7.b_orders', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt4_f7.a_acct VALUES (1, 'kim', now());
INSERT INTO rt4_f7.link VALUES (1, 1);
INSERT INTO rt4_f7.b_orders VALUES (1, 1, 'kim', now()), (2, 1, 'kim', now()), (3, 1, 'kim', now());
SELECT personal_data.erase_subject('kim');
SELECT count(*) AS kim_rows FROM rt4_f7.b_orders;

CREATE TABLE rt4_f7.cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt4_f7.referral (id int PRIMARY KEY, subj text, referrer int REFERENCES rt4_f7.cust(id), collected_at timestamptz);
CREATE TABLE rt4_f7.profile (id int PRIMARY KEY, subj text, collected_at timestamptz);
SELECT personal_data.register_table('rt4_f7.cust', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('rt4_f7.referral', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('rt4_f7.profile', 'subj', 'collected_at', retention => interval '7 years');
-- lena has two customer rows: mo's referral names one (NO ACTION)
INSERT INTO rt4_f7.cust VALUES (1, 'lena', now()), (2, 'lena', now());
INSERT INTO rt4_f7.profile VALUES (1, 'lena', now());
INSERT INTO rt4_f7.referral VALUES (10, 'mo', 1, now());
SELECT personal_data.erase_subject('lena');
SELECT id, subj FROM rt4_f7.cust;
SELECT count(*) AS lena_profiles FROM rt4_f7.profile;
SELECT detail FROM personal_data.request_actions WHERE subject = 'lena';
-- any other error still fails the erasure, and nothing is erased
CREATE FUNCTION rt4_f7.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'profiles stay'; END $$;
CREATE TRIGGER refuse BEFORE DELETE ON rt4_f7.profile FOR EACH ROW EXECUTE FUNCTION rt4_f7.refuse();
INSERT INTO rt4_f7.profile VALUES (2, 'lena', now());
INSERT INTO rt4_f7.cust VALUES (3, 'lena', now());
SELECT personal_data.erase_subject('lena');
SELECT id, subj FROM rt4_f7.cust ORDER BY id;

------------------------------------------------------------------------------
-- F9: a threaded table in between (comments and replies) is followed down
-- its threads: a user goes unless some comment of the thread is reported.
------------------------------------------------------------------------------
CREATE SCHEMA rt4_f9;
CREATE TABLE rt4_f9.users (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE rt4_f9.comments (id int PRIMARY KEY, user_id int REFERENCES rt4_f9.users(id) ON DELETE CASCADE,
	parent_id int REFERENCES rt4_f9.comments(id) ON DELETE CASCADE, body text);
CREATE TABLE rt4_f9.abuse_reports (id int PRIMARY KEY, subj text, collected_at timestamptz,
	comment_id int REFERENCES rt4_f9.comments(id) ON DELETE CASCADE);
SELECT personal_data.register_table('rt4_f9.users', 'subj', 'collected_at', retention => interval '1 year');
SELECT personal_data.register_table('rt4_f9.abuse_reports', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO rt4_f9.users VALUES (1, 'wes', now() - interval '3 years'), (2, 'xia', now() - interval '3 years'),
	(3, 'yul', now() - interval '3 years'), (4, 'zed', now());
-- wes: a thread with replies (zed's reply to it too: deleting wes's post deletes it)
-- yul: a thread whose third-level reply (zed's) is reported
INSERT INTO rt4_f9.comments VALUES (10, 1, NULL, 'wes: a post'), (11, 1, 10, 'wes: a reply'), (12, 4, 11, 'zed: a reply'),
	(20, 2, NULL, 'xia: a post'),
	(30, 3, NULL, 'yul: a post'), (31, 3, 30, 'yul: a reply'), (32, 4, 31, 'zed: reply'), (33, 4, 32, 'zed: reply again'),
	-- a cycle in the data
	(40, 4, NULL, 'zed: a post');
UPDATE rt4_f9.comments SET parent_id = 33 WHERE id = 30;
INSERT INTO rt4_f9.abuse_reports VALUES (1, 'zed', now(), 33);
SELECT * FROM personal_data.purge_expired('rt4_f9.users');
SELECT subj FROM rt4_f9.users ORDER BY id;
SELECT id FROM rt4_f9.comments ORDER BY id;

RESET client_min_messages;
