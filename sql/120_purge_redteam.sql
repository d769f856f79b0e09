-- 120_purge_redteam: what a red-team of the purge found, closed (0.4).
--  P1: the purge (purge_expired() is SECURITY DEFINER, the worker a
--      superuser) ran a table owner's code with its privileges: a cast on the
--      subject type, a function a trigger calls.  It now runs every statement
--      over a table as its owner, security-restricted.
--  P2: the cutoff went through text read back under the session's DateStyle
--      and TimeZone ('CST' is +08 written, -06 read: 14 hours later).
--  P3: holds compared subject::text byte for byte (citext, uuid, int).
--  P4: ON DELETE CASCADE from a purged row deleted rows of another registered
--      table (longer retention, held subjects), unlogged.
--  P5: anonymize with a NOT NULL labelled column failed every batch.
--  P6: the fast path dropped the default partition.
--  P7: the purge lock was an advisory lock any role could take.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext;
RESET client_min_messages;
CREATE ROLE regress_pr_app LOGIN;
CREATE SCHEMA pr_app AUTHORIZATION regress_pr_app;

-- P1a: a cast to text on the subject type, created after registration
SET ROLE regress_pr_app;
CREATE TYPE pr_app.kind AS ENUM ('k1', 'k2');
CREATE TABLE pr_app.t_cast (id int PRIMARY KEY, subj pr_app.kind, collected_at timestamptz);
CREATE TABLE pr_app.ran (who text, superuser boolean);
RESET ROLE;
SELECT personal_data.register_table('pr_app.t_cast', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.place_hold('k2', 'P1') > 0 AS placed;
SET ROLE regress_pr_app;
CREATE FUNCTION pr_app.kind_to_text(pr_app.kind) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pr_app.ran SELECT 'cast:' || current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_pr_app SUPERUSER';
	END IF;
	RETURN $1::name::text;
END $$;
CREATE CAST (pr_app.kind AS text) WITH FUNCTION pr_app.kind_to_text(pr_app.kind);
INSERT INTO pr_app.t_cast VALUES (1, 'k1', now() - interval '2 days'), (2, 'k2', now() - interval '2 days');
-- P1b: a trigger from before registration calls a helper the owner can replace
CREATE FUNCTION pr_app.helper() RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION pr_app.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pr_app.helper(); RETURN OLD; END $$;
CREATE TABLE pr_app.t_trg (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TRIGGER t BEFORE DELETE ON pr_app.t_trg FOR EACH ROW EXECUTE FUNCTION pr_app.trg();
RESET ROLE;
SET client_min_messages = error;	-- the warning about the trigger
SELECT personal_data.register_table('pr_app.t_trg', 'subj', 'collected_at', retention => interval '1 day');
RESET client_min_messages;
SET ROLE regress_pr_app;
CREATE OR REPLACE FUNCTION pr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO pr_app.ran SELECT 'trigger:' || current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_pr_app SUPERUSER';
	END IF;
END $$;
INSERT INTO pr_app.t_trg VALUES (1, 'a', now() - interval '2 days');
RESET ROLE;
SELECT * FROM personal_data.purge_expired('pr_app.t_cast');
SELECT * FROM personal_data.purge_expired('pr_app.t_trg');
-- the trigger ran, as the owner; the cast never ran (the hold is matched with the enum's equality)
SELECT * FROM pr_app.ran;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_pr_app';
SELECT id, subj FROM pr_app.t_cast;
-- the owner's code runs security-restricted: no SET ROLE, no temporary table
SET ROLE regress_pr_app;
CREATE OR REPLACE FUNCTION pr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN CREATE TEMP TABLE pr_escape (x int); END $$;
INSERT INTO pr_app.t_trg VALUES (2, 'b', now() - interval '2 days');
RESET ROLE;
SELECT * FROM personal_data.purge_expired('pr_app.t_trg');
SELECT count(*) FROM pr_app.t_trg;
-- the functions that run as a table's owner are not for anyone else
SET ROLE regress_pr_app;
SELECT personal_data._owner_execute('pr_app.t_trg', 'SELECT 1', 1);
RESET ROLE;
CREATE ROLE regress_pr_other;
GRANT EXECUTE ON FUNCTION personal_data._owner_execute(regclass, text, "any") TO regress_pr_other;
SET ROLE regress_pr_other;
SELECT personal_data._owner_execute('pg_catalog.pg_class', 'SELECT 1', 1);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION personal_data._owner_execute(regclass, text, "any") FROM regress_pr_other;
SELECT personal_data.release_hold(h.id) FROM personal_data.holds h WHERE h.reason = 'P1';

-- P2: DateStyle Postgres and a zone whose abbreviation reads back elsewhere
CREATE TABLE pr_tz (id int PRIMARY KEY, subj text, collected_at timestamptz);
SELECT personal_data.register_table('pr_tz', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr_tz VALUES (1, 'a', now() - interval '1 day' - interval '1 hour'),	-- expired
						 (2, 'b', now() - interval '1 day' + interval '1 hour'),	-- in an hour
						 (3, 'c', now() - interval '1 day' + interval '10 hours');
CREATE TABLE pr_ev (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
DO $$
DECLARE
	b1 timestamptz := date_trunc('hour', now() - interval '1 day' - interval '2 hours');
	b2 timestamptz := date_trunc('hour', now() - interval '1 day' + interval '6 hours');
BEGIN
	EXECUTE format('CREATE TABLE pr_ev_old PARTITION OF pr_ev FOR VALUES FROM (%L) TO (%L)', '2000-01-01', b1);
	EXECUTE format('CREATE TABLE pr_ev_recent PARTITION OF pr_ev FOR VALUES FROM (%L) TO (%L)', b1, b2);
	EXECUTE format('CREATE TABLE pr_ev_now PARTITION OF pr_ev FOR VALUES FROM (%L) TO (MAXVALUE)', b2);
END $$;
SELECT personal_data.register_table('pr_ev', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr_ev VALUES ('x', now() - interval '1 day' - interval '3 hours'),
						 ('y', now() - interval '1 day' + interval '3 hours'),
						 ('z', now());
SET datestyle = 'Postgres, MDY';
SET timezone = 'Asia/Shanghai';
SELECT * FROM personal_data.purge_expired('pr_tz');
SELECT * FROM personal_data.purge_expired('pr_ev');
SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'public.pr_ev';
SET datestyle = 'SQL, DMY';
SET timezone = 'Asia/Kolkata';
SELECT * FROM personal_data.purge_expired('pr_tz', dry_run => true);
RESET datestyle;
RESET timezone;
SELECT id FROM pr_tz ORDER BY id;
SELECT subj, tableoid::regclass FROM pr_ev ORDER BY subj;

-- P3: holds match with the subject type's equality
CREATE TABLE pr_ci (id int, subj citext, collected_at timestamptz);
CREATE TABLE pr_uuid (id int, subj uuid, collected_at timestamptz);
CREATE TABLE pr_int (id int, subj int, collected_at timestamptz);
CREATE DOMAIN pr_email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE pr_dom (id int, subj pr_email, collected_at timestamptz);
SELECT personal_data.register_table(c, 'subj', 'collected_at', retention => interval '1 day')
  FROM unnest('{pr_ci,pr_uuid,pr_int,pr_dom}'::regclass[]) c;
INSERT INTO pr_ci VALUES (1, 'alice@example.com', now() - interval '2 days'), (2, 'bob@example.com', now() - interval '2 days');
INSERT INTO pr_uuid VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now() - interval '2 days'),
						   (2, 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', now() - interval '2 days');
INSERT INTO pr_int VALUES (1, 42, now() - interval '2 days'), (2, 43, now() - interval '2 days');
INSERT INTO pr_dom VALUES (1, 'x@y', now() - interval '2 days'), (2, 'z@y', now() - interval '2 days');
SELECT personal_data.place_hold(s, 'P3') > 0 AS placed
  FROM unnest(ARRAY['Alice@Example.com', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', ' 42', 'x@y',
					'not a uuid, an int or an email']) s;
SELECT (personal_data.purge_expired(c)).* FROM unnest('{pr_ci,pr_uuid,pr_int,pr_dom}'::regclass[]) c;
SELECT 'pr_ci' AS t, subj::text FROM pr_ci UNION ALL SELECT 'pr_uuid', subj::text FROM pr_uuid
UNION ALL SELECT 'pr_int', subj::text FROM pr_int UNION ALL SELECT 'pr_dom', subj::text FROM pr_dom ORDER BY 1, 2;
SELECT count(*) AS released FROM personal_data.holds h, personal_data.release_hold(h.id) WHERE h.reason = 'P3';

-- P4: a cascade into a registered table keeps the row (blocked); into an unregistered one, it goes
CREATE TABLE pr_customers (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE pr_invoices (id int PRIMARY KEY, customer_id int REFERENCES pr_customers ON DELETE CASCADE,
						  subj text, collected_at timestamptz);
CREATE TABLE pr_notes (id int PRIMARY KEY, customer_id int REFERENCES pr_customers ON DELETE CASCADE);
SELECT personal_data.register_table('pr_customers', 'subj', 'collected_at', retention => interval '1 year');
SELECT personal_data.register_table('pr_invoices', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO pr_customers VALUES (1, 'alice', now() - interval '2 years'), (2, 'carol', now() - interval '2 years');
INSERT INTO pr_invoices VALUES (10, 1, 'alice', now() - interval '1 month');
INSERT INTO pr_notes VALUES (5, 2);
SELECT * FROM personal_data.purge_expired('pr_customers', dry_run => true);
SELECT * FROM personal_data.purge_expired('pr_customers');
SELECT id FROM pr_customers;
SELECT id FROM pr_invoices;
SELECT count(*) AS notes FROM pr_notes;
-- once the invoice goes (its own expiry), the customer can go
UPDATE pr_invoices SET collected_at = now() - interval '8 years';
SELECT * FROM personal_data.purge_expired('pr_invoices');
SELECT * FROM personal_data.purge_expired('pr_customers');

-- P5: anonymize cannot null a NOT NULL labelled column: blocked, with a warning
SELECT personal_data.define_purpose('pr_contact', 'customer');
CREATE TABLE pr_anon (id int PRIMARY KEY, subj text, email text NOT NULL, phone text, collected_at timestamptz);
SELECT personal_data.register_table('pr_anon', 'subj', 'collected_at', on_expiry => 'anonymize', retention => interval '1 day');
SELECT personal_data.label_column('pr_anon', 'email', ARRAY['pr_contact']);
SELECT personal_data.label_column('pr_anon', 'phone', ARRAY['pr_contact']);
INSERT INTO pr_anon VALUES (1, 's', 'x@y', '123', now() - interval '2 days');
SELECT * FROM personal_data.purge_expired('pr_anon');
SELECT id, email, phone FROM pr_anon;
ALTER TABLE pr_anon ALTER COLUMN email DROP NOT NULL;
SELECT * FROM personal_data.purge_expired('pr_anon');
SELECT id, email, phone FROM pr_anon;

-- P6: the default partition, list and hash partitions are never dropped whole
CREATE TABLE pr_evd (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
CREATE TABLE pr_evd_main PARTITION OF pr_evd FOR VALUES FROM ('2020-01-01') TO (MAXVALUE);
CREATE TABLE pr_evd_default PARTITION OF pr_evd DEFAULT;
SELECT personal_data.register_table('pr_evd', 'subj', 'collected_at', retention => interval '1 year');
INSERT INTO pr_evd VALUES ('old', '2019-06-01'), ('new', now());
SELECT * FROM personal_data.purge_expired('pr_evd');
SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'public.pr_evd';
INSERT INTO pr_evd VALUES ('backdated import', '2019-07-01');
SELECT subj, tableoid::regclass FROM pr_evd ORDER BY 1;

-- P7: an advisory lock on the old key does not stop a purge; the purge's lock is not in SQL's reach
CREATE TABLE pr_adv (id int, subj text, collected_at timestamptz);
SELECT personal_data.register_table('pr_adv', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO pr_adv VALUES (1, 'a', now() - interval '2 days');
SELECT pg_advisory_lock((1346654279::bigint << 32) | 'pr_adv'::regclass::oid::bigint);
BEGIN;
SELECT * FROM personal_data.purge_expired('pr_adv');
-- ours: (database, table, 0, 'PD'); pg_advisory_lock's keys end in 1 or 2
SELECT objsubid, classid::oid = 'pr_adv'::regclass::oid AS purge_lock, mode, granted FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY objsubid;
COMMIT;
SELECT pg_advisory_unlock_all();

DROP SCHEMA pr_app CASCADE;
DROP ROLE regress_pr_app;
DROP ROLE regress_pr_other;
