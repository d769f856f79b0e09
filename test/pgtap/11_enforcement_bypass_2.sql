-- 11_enforcement_bypass_2.sql: a second round of attempts to get around
-- query-time enforcement (DESIGN.md §3), each asserting the secure outcome.
-- The first round is 10_enforcement_bypass.sql.
--
-- The application role owns the registered tables and holds purpose
-- customer_contract.  Column rules of rt11_people:
--   name   customer_contract      on_denied=error
--   email  customer_information   on_denied=error
-- so, under customer_contract, the application may use name but not email.
-- Third party regress_rt11_tp (customer_contract) may see alice's row only
-- (consent); bob, carol (a minor) have no basis.  Clerk regress_rt11_clerk
-- is an internal role holding customer_information.
--
-- Statements that change things run through regress_rt11_try(), in a
-- subtransaction it rolls back, and report 'OK <rows>; ...', 'probe=<rows>'
-- or the first error as 'ERROR <sqlstate>: <message> / <detail>'.  A value of
-- the data (anything with '@') in a report is a leak.
BEGIN;
CREATE EXTENSION personal_data;
SET LOCAL client_min_messages = warning;
SELECT plan(41);

------------------------------------------------------------------------------
-- Roles, policy, data
------------------------------------------------------------------------------
CREATE ROLE regress_rt11_app;			-- the application: owns the tables
CREATE ROLE regress_rt11_tp;			-- third party: no CREATE anywhere, TEMP only
CREATE ROLE regress_rt11_clerk;			-- internal role entering data
GRANT CREATE ON SCHEMA public TO regress_rt11_app;
DO $$ BEGIN PERFORM personal_data.install_default_purposes(); END $$;

CREATE TABLE public.rt11_people (
	id int PRIMARY KEY,
	subject text NOT NULL,
	name text,
	email text,
	birthdate date,
	score int
);
INSERT INTO rt11_people VALUES
	(1, 'alice', 'Alice', 'alice@x', '1980-01-01', 10),
	(2, 'bob',   'Bob',   'bob@x',   '1981-01-01', 20),
	(3, 'carol', 'Carol', 'carol@x', current_date - 3650, 30);
ALTER TABLE rt11_people OWNER TO regress_rt11_app;
DO $$ BEGIN
	PERFORM personal_data.register_table('rt11_people', 'subject', birthdate_column => 'birthdate');
	PERFORM personal_data.label_column('rt11_people', 'name', '{customer_contract}');
	PERFORM personal_data.label_column('rt11_people', 'email', '{customer_information}');
END $$;

-- a registered partitioned table with a birthdate column
CREATE TABLE public.rt11_kids (id int, subject text NOT NULL, birthdate date) PARTITION BY RANGE (id);
CREATE TABLE public.rt11_kids_p1 PARTITION OF rt11_kids FOR VALUES FROM (0) TO (100);
ALTER TABLE rt11_kids OWNER TO regress_rt11_app;
ALTER TABLE rt11_kids_p1 OWNER TO regress_rt11_app;
DO $$ BEGIN PERFORM personal_data.register_table('rt11_kids', 'subject', birthdate_column => 'birthdate'); END $$;

-- A table the DBA creates with the application's domain and update trigger,
-- owned by the application, then registers (register_table warns about the
-- trigger; the domain's check is the application's function too).
SET ROLE regress_rt11_app;
CREATE FUNCTION public.rt11_touch() RETURNS trigger LANGUAGE plpgsql AS $f$BEGIN RETURN NEW; END$f$;
CREATE FUNCTION public.rt11_valid_email(v text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$SELECT v LIKE '%@%'$f$;
CREATE DOMAIN public.rt11_email AS text CHECK (public.rt11_valid_email(VALUE));
CREATE TABLE public.rt11_side (v text);
GRANT SELECT ON rt11_side TO PUBLIC;
RESET ROLE;
CREATE TABLE public.rt11_customers (id int PRIMARY KEY, subject text NOT NULL, email rt11_email, score int);
INSERT INTO rt11_customers VALUES (1, 'alice', 'alice@c', 1);
CREATE TRIGGER rt11_touch BEFORE UPDATE ON rt11_customers FOR EACH ROW EXECUTE FUNCTION rt11_touch();
ALTER TABLE rt11_customers OWNER TO regress_rt11_app;
SET LOCAL client_min_messages = error;	-- the warning about the trigger
DO $$ BEGIN
	PERFORM personal_data.register_table('rt11_customers', 'subject');
	PERFORM personal_data.label_column('rt11_customers', 'email', '{customer_information}');
END $$;
SET LOCAL client_min_messages = warning;

GRANT SELECT, INSERT, UPDATE, DELETE ON rt11_people, rt11_customers TO regress_rt11_tp, regress_rt11_clerk;

DO $$ BEGIN
	PERFORM personal_data.grant_purpose('regress_rt11_app', 'customer_contract');
	PERFORM personal_data.grant_purpose('regress_rt11_clerk', 'customer_information');
	PERFORM personal_data.register_recipient('regress_rt11_tp', 'third_party', 'Partner Inc');
	PERFORM personal_data.grant_purpose('regress_rt11_tp', 'customer_contract');
	PERFORM personal_data.record_consent('alice', 'customer_contract', 'regress_rt11_tp');
END $$;

-- where each row is, for the third party's ctid probes
CREATE TABLE public.rt11_ctids AS SELECT id, ctid AS c FROM rt11_people;
GRANT SELECT ON rt11_ctids TO PUBLIC;

------------------------------------------------------------------------------
-- Helpers (SECURITY INVOKER: they run as whoever calls them)
------------------------------------------------------------------------------
-- Runs stmts then probe in a subtransaction that is rolled back.
CREATE FUNCTION public.regress_rt11_try(stmts text[], probe text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
	stmt text;
	log text := '';
	n bigint;
	r text;
	st text;
	msg text;
	det text;
BEGIN
	BEGIN
		FOREACH stmt IN ARRAY stmts LOOP
			EXECUTE stmt;
			GET DIAGNOSTICS n = ROW_COUNT;
			log := log || 'OK ' || n || '; ';
		END LOOP;
		IF probe IS NOT NULL THEN
			EXECUTE probe INTO r;
			log := log || 'probe=' || coalesce(r, '');
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'RGRSS';
	EXCEPTION
		WHEN SQLSTATE 'RGRSS' THEN
			NULL;
		WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
			log := log || 'ERROR ' || st || ': ' || msg || coalesce(' / ' || nullif(det, ''), '');
	END;
	RETURN log;
END
$f$;

-- The one value a query returns (dynamic SQL, so that it may run in parallel).
CREATE FUNCTION public.regress_rt11_value(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	r text;
BEGIN
	EXECUTE q INTO r;
	RETURN r;
END
$f$;

-- EXPLAIN ANALYZE output of a query, one string.
CREATE FUNCTION public.regress_rt11_explain(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	line text;
	result text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		result := result || line || E'\n';
	END LOOP;
	RETURN result;
END
$f$;

-- A superuser's cursor over a forbidden column, handed out by a SECURITY DEFINER function.
CREATE FUNCTION public.rt11_open_email_cursor() RETURNS refcursor LANGUAGE plpgsql SECURITY DEFINER AS $f$
DECLARE
	c refcursor := 'rt11_email_cursor';
BEGIN
	OPEN c FOR SELECT email FROM public.rt11_people;
	RETURN c;
END
$f$;
-- A superuser's PL/pgSQL function (not SECURITY DEFINER) whose plan is cached.
CREATE FUNCTION public.rt11_subjects() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	result text;
BEGIN
	SELECT string_agg(p.subject, ',' ORDER BY p.subject) INTO result FROM public.rt11_people p;
	RETURN result;
END
$f$;

------------------------------------------------------------------------------
-- Integrity errors caught by an exception handler: "Failing row contains"
-- (PostgreSQL prints the whole row to a role with SELECT on the table)
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
RESET personal_data.purpose;
SELECT matches(regress_rt11_try(ARRAY['UPDATE rt11_people SET subject = NULL WHERE id = 1']),
	'^ERROR 23502', 'control: NOT NULL violation caught by a handler');
SELECT doesnt_match(regress_rt11_try(ARRAY['UPDATE rt11_people SET subject = NULL WHERE id = 1']),
	'@', 'owner, no purpose: the caught NOT NULL violation''s DETAIL shows no email');
SET personal_data.purpose = 'customer_contract';
SELECT doesnt_match(regress_rt11_try(ARRAY[
		'CREATE VIEW rt11_v AS SELECT id, subject, score FROM rt11_people WHERE score < 100 WITH CHECK OPTION',
		'UPDATE rt11_v SET score = 1000 WHERE id = 1']),
	'@', 'owner''s view WITH CHECK OPTION: the violation''s DETAIL (SQLSTATE 44000) shows no email');
SET ROLE regress_rt11_tp;
SELECT doesnt_match(regress_rt11_try(ARRAY['UPDATE rt11_people SET subject = NULL WHERE id = 1']),
	'@', 'third party: the caught NOT NULL violation on a consented row shows no email');

------------------------------------------------------------------------------
-- Referential actions run the code of the referencing table's owner inside
-- PostgreSQL's RI operation (SECURITY_NOFORCE_RLS)
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
RESET personal_data.purpose;
SELECT doesnt_match(regress_rt11_try(ARRAY[
		'CREATE TABLE rt11_a (id int PRIMARY KEY)',
		'CREATE TABLE rt11_b (id int REFERENCES rt11_a ON DELETE CASCADE)',
		'CREATE TABLE rt11_loot (v text)',
		$q$CREATE FUNCTION rt11_steal() RETURNS trigger LANGUAGE plpgsql AS $t$
		  BEGIN
			INSERT INTO public.rt11_loot SELECT string_agg(format('%s/%s/%s', subject, name, email), ',') FROM public.rt11_people;
			RETURN OLD;
		  END $t$$q$,
		'CREATE TRIGGER rt11_steal BEFORE DELETE ON rt11_b FOR EACH ROW EXECUTE FUNCTION rt11_steal()',
		'INSERT INTO rt11_a VALUES (1)', 'INSERT INTO rt11_b VALUES (1)',
		'DELETE FROM rt11_a'],
		'SELECT string_agg(v, '','') FROM rt11_loot'),
	'@', 'owner, no purpose: a trigger fired by ON DELETE CASCADE reads no email');
SET ROLE regress_rt11_tp;
SET personal_data.purpose = 'customer_contract';
SELECT is(regress_rt11_value('SELECT string_agg(subject, '','') FROM rt11_people'), 'alice',
	'control: the third party sees alice only');
SELECT doesnt_match(regress_rt11_try(ARRAY[
		'CREATE TEMP TABLE rt11_a (id int PRIMARY KEY)',
		'CREATE TEMP TABLE rt11_b (id int REFERENCES rt11_a ON DELETE CASCADE)',
		'CREATE TEMP TABLE rt11_loot (v text)',
		$q$CREATE FUNCTION pg_temp.rt11_steal() RETURNS trigger LANGUAGE plpgsql AS $t$
		  BEGIN
			INSERT INTO rt11_loot SELECT string_agg(subject, ',') FROM public.rt11_people;
			RETURN OLD;
		  END $t$$q$,
		'CREATE TRIGGER rt11_steal BEFORE DELETE ON rt11_b FOR EACH ROW EXECUTE FUNCTION pg_temp.rt11_steal()',
		'INSERT INTO rt11_a VALUES (1)', 'INSERT INTO rt11_b VALUES (1)',
		'DELETE FROM rt11_a'],
		'SELECT string_agg(v, '','') FROM rt11_loot'),
	'bob|carol', 'third party with temporary objects only: a cascade''s trigger sees no hidden row');
-- referential actions write the registered table: a minor's row without a guardian
SET ROLE regress_rt11_app;
SET personal_data.purpose = 'customer_contract';
SELECT matches(regress_rt11_try(ARRAY[
		'CREATE TABLE rt11_dates (d date PRIMARY KEY)',
		'INSERT INTO rt11_dates SELECT DISTINCT birthdate FROM rt11_people',
		'ALTER TABLE rt11_people ADD FOREIGN KEY (birthdate) REFERENCES rt11_dates (d) ON UPDATE CASCADE',
		$$UPDATE rt11_dates SET d = current_date - 100 WHERE d = '1981-01-01'$$],
		'SELECT string_agg(id::text, '','') FROM rt11_people WHERE birthdate > current_date - 365'),
	'(^|; )ERROR 42501', 'ON UPDATE CASCADE making bob a minor: refused (the cascading foreign key, or the write)');
SELECT matches(regress_rt11_try(ARRAY[
		'CREATE TABLE rt11_ids (id int PRIMARY KEY)',
		'INSERT INTO rt11_ids SELECT id FROM rt11_people',
		'ALTER TABLE rt11_people ADD FOREIGN KEY (id) REFERENCES rt11_ids (id) ON UPDATE CASCADE',
		'UPDATE rt11_ids SET id = 33 WHERE id = 3'],
		'SELECT string_agg(id::text, '','') FROM rt11_people WHERE id = 33'),
	'(^|; )ERROR 42501', 'ON UPDATE CASCADE rewriting carol''s (a minor''s) row: refused (the cascading foreign key, or the write)');
SELECT matches(regress_rt11_try(ARRAY['UPDATE rt11_people SET score = 1 WHERE id = 3']),
	'^ERROR 42501', 'control: the same write made directly is refused');

------------------------------------------------------------------------------
-- Parallel workers: a PARALLEL SAFE function's queries run in a worker
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
RESET personal_data.purpose;
CREATE FUNCTION public.rt11_peek() RETURNS text LANGUAGE plpgsql PARALLEL SAFE AS $f$
BEGIN
	RETURN (SELECT string_agg(format('%s/%s', subject, email), ',' ORDER BY id) FROM public.rt11_people);
END
$f$;
SET force_parallel_mode = on;
SELECT matches(regress_rt11_explain('SELECT 1'), 'Workers Launched: 1',
	'control: force_parallel_mode runs the query in a worker');
SELECT throws_ok($$SELECT regress_rt11_value('SELECT public.rt11_peek()')$$, '42501', NULL,
	'owner, no purpose: email read by a PARALLEL SAFE function in a worker');
SET ROLE regress_rt11_tp;
SET personal_data.purpose = 'customer_contract';
-- (the third party's function lives in pg_temp: it needs no CREATE anywhere)
CREATE FUNCTION pg_temp.rt11_tp_peek() RETURNS text LANGUAGE plpgsql PARALLEL SAFE AS $f$
BEGIN
	RETURN (SELECT string_agg(subject, ',' ORDER BY id) FROM public.rt11_people);
END
$f$;
SELECT is(regress_rt11_value($$SELECT pg_temp.rt11_tp_peek()$$), 'alice',
	'third party: a PARALLEL SAFE function of its own, in a worker, sees alice only');
RESET force_parallel_mode;
SELECT is(regress_rt11_value($$SELECT pg_temp.rt11_tp_peek()$$), 'alice',
	'control: the same function in the leader sees alice only');

------------------------------------------------------------------------------
-- Owner code that predates registration, changed afterwards
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
SET personal_data.purpose = 'customer_contract';
SELECT doesnt_match(regress_rt11_try(ARRAY[
		$q$CREATE OR REPLACE FUNCTION rt11_touch() RETURNS trigger LANGUAGE plpgsql AS $t$
		  BEGIN INSERT INTO public.rt11_side VALUES ('trigger saw ' || OLD.email); RETURN NEW; END $t$$q$,
		'UPDATE rt11_customers SET score = 2'],
		'SELECT string_agg(v, '','') FROM rt11_side'),
	'@', 'the owner rewrites the function of a trigger that predates registration: it reads no email');
SELECT doesnt_match(regress_rt11_try(ARRAY[
		$q$CREATE OR REPLACE FUNCTION rt11_valid_email(v text) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER AS $t$
		  BEGIN INSERT INTO public.rt11_side VALUES ('domain saw ' || v); RETURN true; END $t$$q$,
		'SET LOCAL ROLE regress_rt11_clerk',
		$$SET LOCAL personal_data.purpose = 'customer_information'$$,
		$$INSERT INTO rt11_customers VALUES (2, 'bob', 'bob@c', 1)$$],
		'SELECT string_agg(v, '','') FROM rt11_side'),
	'@', 'the owner rewrites its domain''s CHECK function: it sees no email a clerk enters');

------------------------------------------------------------------------------
-- Writes that escape the checks
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
SET personal_data.purpose = 'customer_contract';
SELECT matches(regress_rt11_try(ARRAY[
		$$ALTER TABLE rt11_people ALTER COLUMN email SET DEFAULT 'made-up@x'$$,
		$$INSERT INTO rt11_people (id, subject) VALUES (50, 'zed')$$],
		'SELECT count(*) FROM rt11_people WHERE id = 50'),
	'^ERROR 42501', 'a column DEFAULT writes email without the purpose: refused');
SELECT throws_ok($$INSERT INTO rt11_people (id, subject, email) VALUES (50, 'zed', 'made-up@x')$$, '42501', NULL,
	'control: writing email explicitly is refused');
SELECT throws_ok($$COPY rt11_kids FROM '/nonexistent/regress_rt11'$$, '0A000', NULL,
	'COPY FROM into a registered partitioned table with a birthdate column: refused like a plain table');
SELECT throws_ok($$COPY rt11_kids_p1 FROM '/nonexistent/regress_rt11'$$, '0A000', NULL,
	'control: COPY FROM into its partition is refused');

------------------------------------------------------------------------------
-- Plans made by a superuser, then used by a third party in the same session
-- (a pooler connecting as a superuser and switching roles per client)
------------------------------------------------------------------------------
RESET ROLE;
SET personal_data.purpose = 'customer_contract';
PREPARE rt11_q AS SELECT string_agg(subject, ',' ORDER BY subject) AS subjects FROM rt11_people;
EXECUTE rt11_q \gset rt11_super_
SELECT is(:'rt11_super_subjects'::text, 'alice,bob,carol', 'control: the superuser sees every row');
SELECT is(rt11_subjects(), 'alice,bob,carol', 'control: so does its PL/pgSQL function');
SET ROLE regress_rt11_tp;
EXECUTE rt11_q \gset rt11_tp_
SELECT is(rt11_subjects(), 'alice', 'SET ROLE third party: a PL/pgSQL plan the superuser cached is filtered');
RESET ROLE;
SELECT is(:'rt11_tp_subjects'::text, 'alice', 'SET ROLE third party: a statement the superuser prepared is filtered');
EXECUTE rt11_q \gset rt11_super_
SET SESSION AUTHORIZATION regress_rt11_tp;
EXECUTE rt11_q \gset rt11_tp_
RESET SESSION AUTHORIZATION;
SELECT is(:'rt11_tp_subjects'::text, 'alice', 'SET SESSION AUTHORIZATION third party: the prepared statement is filtered');
DEALLOCATE rt11_q;

------------------------------------------------------------------------------
-- Stopped (controls of vectors tried in this round)
------------------------------------------------------------------------------
SET ROLE regress_rt11_app;
SET personal_data.purpose = 'customer_contract';
SELECT throws_ok($$ALTER FUNCTION rt11_valid_email(text) LEAKPROOF$$, '42501', NULL,
	'only superusers mark functions LEAKPROOF');
SELECT throws_ok($$CREATE FUNCTION rt11_off() RETURNS int LANGUAGE sql SET personal_data.enforce = off AS 'SELECT 1'$$,
	'42501', NULL, 'a function may not carry SET personal_data.enforce = off');
SELECT throws_ok($$CREATE OPERATOR CLASS rt11_ops FOR TYPE text USING btree AS OPERATOR 1 <$$, '42501', NULL,
	'only superusers create operator classes (an index''s comparison code)');
SELECT throws_ok($$COPY (SELECT id FROM rt11_people) TO PROGRAM 'cat'$$, '42501', NULL,
	'COPY ... TO PROGRAM is not for the application');
SELECT throws_ok($$EXPLAIN SELECT id FROM rt11_people WHERE email = 'alice@x'$$, '42501', NULL,
	'EXPLAIN (planner estimates from email''s statistics) of a query on email: refused');
SELECT throws_ok($$SELECT count(*) OVER (PARTITION BY email) FROM rt11_people$$, '42501', NULL,
	'window partitioned by email');
SELECT throws_ok($$SELECT subject FROM rt11_people GROUP BY GROUPING SETS ((subject), (email))$$, '42501', NULL,
	'GROUPING SETS over email');
SELECT throws_ok($$SELECT rt11_open_email_cursor()$$, '42501', NULL,
	'a refcursor over email opened by a superuser''s SECURITY DEFINER function');
SELECT throws_ok($$SELECT ARRAY(SELECT email FROM rt11_people)$$, '42501', NULL, 'ARRAY(SELECT email ...)');

SET ROLE regress_rt11_tp;
SET personal_data.purpose = 'customer_contract';
SELECT is(regress_rt11_value($$SELECT string_agg(subject, ',') FROM rt11_people TABLESAMPLE SYSTEM (100)$$), 'alice',
	'third party: TABLESAMPLE');
SELECT is(regress_rt11_value($$SELECT coalesce(string_agg(p.subject, ','), '-') FROM rt11_people p WHERE p.ctid IN (SELECT c FROM rt11_ctids)$$),
	'alice', 'third party: a scan by ctid');
SELECT is(regress_rt11_value($$SELECT coalesce(string_agg(subject, ','), '-') FROM rt11_people WHERE ctid = (SELECT c FROM rt11_ctids WHERE id = 2)$$),
	'-', 'third party: a TID scan of a hidden row');
SELECT is(regress_rt11_value($$SELECT string_agg(subject || ':' || t, ',') FROM (SELECT subject, tableoid::regclass::text FROM rt11_people FOR UPDATE SKIP LOCKED) s(subject, t)$$),
	'alice:rt11_people', 'third party: FOR UPDATE SKIP LOCKED, system columns');
SELECT is(regress_rt11_value($$SELECT string_agg(s, ',') FROM (SELECT DISTINCT ON (subject) subject FROM rt11_people) d(s)$$),
	'alice', 'third party: DISTINCT ON');
SELECT is(regress_rt11_value($$SELECT string_agg(coalesce(subject, '*') || count, ',' ORDER BY subject NULLS LAST) FROM (SELECT subject, count(*) FROM rt11_people GROUP BY ROLLUP (subject)) r$$),
	'alice1,*1', 'third party: ROLLUP');
SELECT is(regress_rt11_value($$WITH RECURSIVE r(s, n) AS (SELECT subject, 1 FROM rt11_people UNION SELECT s, n + 1 FROM r WHERE n < 3) SELECT string_agg(DISTINCT s, ',') FROM r$$),
	'alice', 'third party: recursive CTE');
RESET ROLE;
RESET personal_data.purpose;

SELECT * FROM finish();
ROLLBACK;
