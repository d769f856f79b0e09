-- 140_purge_redteam2: what a second red-team of the purge found, closed (0.6).
--  R3: a cascade two steps away (A -> unregistered B -> registered C)
--      deleted C's held, non-expired rows.
--  R4: a DEFERRABLE INITIALLY DEFERRED foreign key referencing a registered
--      table made every purge (and erase_subject) fail.
--  R5: any role's (temporary) view on an expired partition made the fast
--      path's DROP fail every round, with no fallback.
--  R6: a subject column of an array type was never purged while a hold existed.
--  R7: anonymize's UPDATE cascaded (ON UPDATE CASCADE) into a registered
--      table's held rows; ON DELETE SET NULL changed a registered table's rows.
--  R8: anonymize had no fallback when a foreign key refused a batch.
--  R9: ALTER DOMAIN on a domain under the domain of a registered table's
--      column added the owner's code after registration.
--  R10: inheritance children of a registered table were never purged.
--  R11: holds on types without equality compared as raw text.
--  R12: dry_run counted rows a foreign key keeps as purged.
--  R13: the fast path dropped a partition under a DEFAULT partition.
--  R14: a cutoff before the year 1 was written without its era.
--  R15: the database's TimeZone moved day and month cutoffs.
CREATE ROLE regress_pr2_app LOGIN;
CREATE ROLE regress_pr2_other LOGIN;
CREATE SCHEMA pr2 AUTHORIZATION regress_pr2_app;
GRANT USAGE ON SCHEMA pr2 TO regress_pr2_other;

-- R3: A -> B (not registered) -> C (registered), all ON DELETE CASCADE
SET ROLE regress_pr2_app;
CREATE TABLE pr2.a (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr2.b (id int PRIMARY KEY, a_id int REFERENCES pr2.a(id) ON DELETE CASCADE);
CREATE TABLE pr2.c (id int PRIMARY KEY, b_id int REFERENCES pr2.b(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz);
CREATE TABLE pr2.d (id int PRIMARY KEY, a_id int REFERENCES pr2.a(id) ON DELETE CASCADE,
	subj text, collected_at timestamptz);
-- a tree of comments cascading into itself, reaching no registered table
CREATE TABLE pr2.comments (id int PRIMARY KEY, a_id int REFERENCES pr2.a(id) ON DELETE CASCADE,
	parent int REFERENCES pr2.comments(id) ON DELETE CASCADE);
RESET ROLE;
SELECT personal_data.register_table('pr2.a', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr2.c', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('pr2.d', 'subj', 'collected_at', retention => interval '7 years');
SELECT personal_data.place_hold('carol', 'R3') > 0 AS placed;
INSERT INTO pr2.a SELECT i, 'a' || i, now() - interval '2 days' FROM generate_series(1, 5) i;
INSERT INTO pr2.b VALUES (10, 1), (11, 3);
INSERT INTO pr2.c VALUES (100, 10, 'carol', now());		-- held, not expired: via b
INSERT INTO pr2.d VALUES (200, 2, 'dave', now());		-- directly
INSERT INTO pr2.comments VALUES (1, 4, NULL), (2, 4, 1);
SELECT * FROM personal_data.purge_expired('pr2.a', dry_run => true);
SELECT * FROM personal_data.purge_expired('pr2.a');
SELECT id FROM pr2.a ORDER BY id;			-- 1 (via b to c) and 2 (d) kept
SELECT id, a_id FROM pr2.b ORDER BY id;		-- b 11 went with a 3
SELECT id, subj FROM pr2.c;
SELECT count(*) AS comments_left FROM pr2.comments;

-- R7: anonymize's UPDATE cascading ON UPDATE into a registered table
SET ROLE regress_pr2_app;
CREATE TABLE pr2.acct (id int PRIMARY KEY, email text UNIQUE, phone text, collected_at timestamptz);
CREATE TABLE pr2.msgs (id int PRIMARY KEY, email text REFERENCES pr2.acct(email) ON UPDATE CASCADE,
	collected_at timestamptz);
-- and delete cascading SET NULL into one
CREATE TABLE pr2.p (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr2.q (id int PRIMARY KEY, p_id int REFERENCES pr2.p(id) ON DELETE SET NULL,
	subj text, collected_at timestamptz);
RESET ROLE;
SELECT personal_data.define_purpose('pr2_crm', 'customer', 'R7', interval '1 day');
SELECT personal_data.register_table('pr2.acct', 'id', 'collected_at', on_expiry => 'anonymize',
	retention => interval '1 day');
SELECT personal_data.label_column('pr2.acct', 'email', ARRAY['pr2_crm']);
SELECT personal_data.label_column('pr2.acct', 'phone', ARRAY['pr2_crm']);
SELECT personal_data.register_table('pr2.msgs', 'email', 'collected_at', retention => interval '7 years');
SELECT personal_data.register_table('pr2.p', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('pr2.q', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO pr2.acct VALUES (1, 'e@x', '555-1', now() - interval '2 days'), (2, 'f@x', '555-2', now() - interval '2 days');
INSERT INTO pr2.msgs VALUES (1, 'e@x', now());
INSERT INTO pr2.p VALUES (5, 'pp', now() - interval '2 days'), (6, 'pq', now() - interval '2 days');
INSERT INTO pr2.q VALUES (1, 5, 'qq', now());
SELECT * FROM personal_data.purge_expired('pr2.acct');
SELECT id, email, phone FROM pr2.acct ORDER BY id;	-- 1 kept: msgs references its email
SELECT id, email FROM pr2.msgs;
SELECT * FROM personal_data.purge_expired('pr2.p');
SELECT id, p_id FROM pr2.q;

-- R8: anonymize falls back row by row when a foreign key refuses the batch
SET ROLE regress_pr2_app;
CREATE TABLE pr2.acct2 (id int PRIMARY KEY, email text UNIQUE, collected_at timestamptz);
CREATE TABLE pr2.msgs2 (id int PRIMARY KEY, email text REFERENCES pr2.acct2(email));
RESET ROLE;
SELECT personal_data.register_table('pr2.acct2', 'id', 'collected_at', on_expiry => 'anonymize',
	retention => interval '1 day');
SELECT personal_data.label_column('pr2.acct2', 'email', ARRAY['pr2_crm']);
INSERT INTO pr2.acct2 VALUES (1, 'one@x', now() - interval '2 days'), (2, 'two@x', now() - interval '2 days');
INSERT INTO pr2.msgs2 VALUES (1, 'one@x');
SELECT * FROM personal_data.purge_expired('pr2.acct2');
SELECT id, email FROM pr2.acct2 ORDER BY id;

-- R12: dry_run counts the rows a foreign key keeps as blocked
SET ROLE regress_pr2_app;
CREATE TABLE pr2.t_ref (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr2.keep (id int REFERENCES pr2.t_ref(id));
RESET ROLE;
SELECT personal_data.register_table('pr2.t_ref', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr2.t_ref VALUES (1, 'a', now() - interval '2 days'), (2, 'b', now() - interval '2 days');
INSERT INTO pr2.keep VALUES (1);
SELECT * FROM personal_data.purge_expired('pr2.t_ref', dry_run => true);
SELECT count(*) AS still_there FROM pr2.t_ref;
SELECT * FROM personal_data.purge_expired('pr2.t_ref');

-- R4: an INITIALLY DEFERRED foreign key (as ORMs declare them) referencing a registered table
SET ROLE regress_pr2_app;
CREATE TABLE pr2.t_def (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr2.t_def_ref (id int REFERENCES pr2.t_def(id) DEFERRABLE INITIALLY DEFERRED);
RESET ROLE;
SELECT personal_data.register_table('pr2.t_def', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr2.t_def VALUES (1, 'd1', now() - interval '2 days'), (2, 'd2', now() - interval '2 days'),
	(3, 'd3', now());
INSERT INTO pr2.t_def_ref VALUES (2);
SELECT * FROM personal_data.purge_expired('pr2.t_def');
SELECT id FROM pr2.t_def ORDER BY id;
SELECT personal_data.erase_subject('d3');
SELECT id FROM pr2.t_def ORDER BY id;

-- R5: a temporary view of another role on an expired partition: row by row instead
SET ROLE regress_pr2_app;
CREATE TABLE pr2.ev (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
CREATE TABLE pr2.ev_old PARTITION OF pr2.ev FOR VALUES FROM ('2000-01-01') TO ('2020-01-01');
CREATE TABLE pr2.ev_new PARTITION OF pr2.ev FOR VALUES FROM ('2020-01-01') TO (MAXVALUE);
GRANT SELECT ON pr2.ev_old TO regress_pr2_other;
RESET ROLE;
SELECT personal_data.register_table('pr2.ev', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr2.ev VALUES ('x1', '2012-01-01'), ('x2', '2013-01-01');
SET ROLE regress_pr2_other;
CREATE TEMP VIEW pin AS SELECT 1 AS one FROM pr2.ev_old WHERE false;
RESET ROLE;
SELECT * FROM personal_data.purge_expired('pr2.ev');
SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'pr2.ev';
SELECT count(*) AS rows_left FROM pr2.ev;
DROP VIEW pin;

-- R6: a subject column of an array type, while a hold exists
SET ROLE regress_pr2_app;
CREATE TABLE pr2.t_arr (id int PRIMARY KEY, subj int[], collected_at timestamptz);
RESET ROLE;
SELECT personal_data.register_table('pr2.t_arr', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.place_hold('{7,8}', 'R6') > 0 AS placed;
INSERT INTO pr2.t_arr VALUES (1, '{3}', now() - interval '2 days'), (2, '{ 7, 8 }', now() - interval '2 days');
SELECT * FROM personal_data.purge_expired('pr2.t_arr');
SELECT id, subj FROM pr2.t_arr;

-- R11: a type without equality: the hold matches as the type writes the value
SET ROLE regress_pr2_app;
CREATE TABLE pr2.t_pt (id int PRIMARY KEY, subj point, collected_at timestamptz);
RESET ROLE;
SELECT personal_data.register_table('pr2.t_pt', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.place_hold('(1, 2)', 'R11') > 0 AS placed;
INSERT INTO pr2.t_pt VALUES (1, '(1,2)', now() - interval '2 days'), (2, '(3,4)', now() - interval '2 days');
SELECT * FROM personal_data.purge_expired('pr2.t_pt');
SELECT id, subj FROM pr2.t_pt;

-- R10: an inheritance child follows its registered parent's retention
SET ROLE regress_pr2_app;
CREATE TABLE pr2.par (id int, subj text, collected_at timestamptz);
RESET ROLE;
SELECT personal_data.register_table('pr2.par', 'subj', 'collected_at', retention => interval '1 day');
SET ROLE regress_pr2_app;
CREATE TABLE pr2.kid () INHERITS (pr2.par);
INSERT INTO pr2.par VALUES (1, 'p', now() - interval '2 days'), (3, 'p-new', now());
INSERT INTO pr2.kid VALUES (2, 'k', now() - interval '2 days'), (4, 'k-new', now());
RESET ROLE;
-- a foreign table among the children: its rows are elsewhere, never a leaf
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS file_fdw;
RESET client_min_messages;
CREATE SERVER pr2_files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE pr2.kid_remote () INHERITS (pr2.par) SERVER pr2_files OPTIONS (filename '/dev/null');
SELECT * FROM personal_data._purge_leaves('pr2.par') l ORDER BY l::text;
SELECT * FROM personal_data.purge_expired('pr2.par');
SELECT tableoid::regclass, id FROM pr2.par ORDER BY id;

-- R13: a partition under the DEFAULT partition is never dropped whole
SET ROLE regress_pr2_app;
CREATE TABLE pr2.ml (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
CREATE TABLE pr2.ml_cur PARTITION OF pr2.ml FOR VALUES FROM ('2020-01-01') TO (MAXVALUE);
CREATE TABLE pr2.ml_def PARTITION OF pr2.ml DEFAULT PARTITION BY RANGE (collected_at);
CREATE TABLE pr2.ml_def_all PARTITION OF pr2.ml_def FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
RESET ROLE;
INSERT INTO pr2.ml VALUES ('a', '2010-01-01'), ('b', now());
SELECT personal_data.register_table('pr2.ml', 'subj', 'collected_at', retention => interval '1 day');
SELECT * FROM personal_data.purge_expired('pr2.ml');
SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'pr2.ml';
INSERT INTO pr2.ml VALUES ('late', '2015-01-01');
SELECT subj, tableoid::regclass FROM pr2.ml ORDER BY 1;

-- R14: a cutoff before the year 1 (a retention of 2100 years)
SET ROLE regress_pr2_app;
CREATE TABLE pr2.anc (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
CREATE TABLE pr2.anc_old PARTITION OF pr2.anc FOR VALUES FROM (MINVALUE) TO ('0050-01-01 00:00+00');
CREATE TABLE pr2.anc_rest PARTITION OF pr2.anc FOR VALUES FROM ('0050-01-01 00:00+00') TO (MAXVALUE);
RESET ROLE;
INSERT INTO pr2.anc VALUES ('roman', '0040-06-01 00:00+00');
SELECT personal_data.register_table('pr2.anc', 'subj', 'collected_at', retention => interval '2100 years');
SELECT * FROM personal_data.purge_expired('pr2.anc');
SELECT subj FROM pr2.anc;

-- R15: the cutoff is now - retention in UTC, whatever TimeZone says
SET ROLE regress_pr2_app;
CREATE TABLE pr2.t_tz (id int PRIMARY KEY, subj text, collected_at timestamptz);
RESET ROLE;
SELECT personal_data.register_table('pr2.t_tz', 'subj', 'collected_at', retention => interval '6 months');
-- 30 minutes either side of the cutoff computed in UTC; Sydney's daylight saving moves a local one by an hour
INSERT INTO pr2.t_tz VALUES
	(1, 'just expired', ((now() AT TIME ZONE 'UTC') - interval '6 months' - interval '30 minutes') AT TIME ZONE 'UTC'),
	(2, 'not yet', ((now() AT TIME ZONE 'UTC') - interval '6 months' + interval '30 minutes') AT TIME ZONE 'UTC');
SET TimeZone = 'Australia/Sydney';
SELECT * FROM personal_data.purge_expired('pr2.t_tz');
RESET TimeZone;
SELECT id, subj FROM pr2.t_tz;

-- R9: a CHECK on a domain under the domain of a registered table's column is owner code: refused
SET ROLE regress_pr2_app;
CREATE DOMAIN pr2.e1 AS text;
CREATE DOMAIN pr2.e2 AS pr2.e1;
CREATE TYPE pr2.pair AS (x pr2.e1, y int);
CREATE TABLE pr2.t_dom (id int PRIMARY KEY, subj pr2.e2, extra pr2.pair, collected_at timestamptz);
CREATE DOMAIN pr2.e3 AS int;
CREATE TABLE pr2.t_dom_free (v pr2.e3);
RESET ROLE;
SELECT personal_data.register_table('pr2.t_dom', 'subj', 'collected_at', retention => interval '1 day');
SET ROLE regress_pr2_app;
ALTER DOMAIN pr2.e2 ADD CONSTRAINT c2 CHECK (length(VALUE) < 100);
ALTER DOMAIN pr2.e1 ADD CONSTRAINT c1 CHECK (length(VALUE) < 100);
-- a domain no registered table uses stays the owner's to change
ALTER DOMAIN pr2.e3 ADD CONSTRAINT c3 CHECK (VALUE > 0);
RESET ROLE;

-- the subject functions match those types as the purge does
INSERT INTO pr2.t_arr VALUES (3, '{5}', now());
INSERT INTO pr2.t_pt VALUES (3, '(5,6)', now());
SELECT personal_data.label_column('pr2.t_arr', 'id', ARRAY['pr2_crm']);
SELECT personal_data.label_column('pr2.t_pt', 'id', ARRAY['pr2_crm']);
SELECT personal_data.subject_data('{ 5 }') -> 'data';
SELECT personal_data.subject_data('(5, 6)') -> 'data';
SELECT personal_data.erase_subject('{7, 8}');
SELECT personal_data.erase_subject('(1,2)');
SELECT personal_data.erase_subject('(5, 6)');
SELECT personal_data.erase_subject('{5}');

SELECT personal_data.release_hold(h.id) FROM personal_data.holds h WHERE h.reason IN ('R3', 'R6', 'R11')
 ORDER BY h.id;
SET client_min_messages = warning;
DROP SCHEMA pr2 CASCADE;
DROP SERVER pr2_files;
RESET client_min_messages;
DROP ROLE regress_pr2_app;
DROP ROLE regress_pr2_other;
