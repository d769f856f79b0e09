--
-- 050_enforcement: what internal roles see and may do under each purpose
-- (DESIGN.md §3) -- the exact results, and the exact refusals.
--
-- A registered table owned by the application role (owners are enforced
-- like everyone else), with columns labelled on_denied=error and
-- on_denied=null for several purposes.  Each failing statement is followed
-- by \echo :SQLSTATE, so the expected output pins the error code as well as
-- the message, DETAIL and HINT.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- regress_e_app owns the table and holds billing; regress_e_two holds
-- billing and support; regress_e_member holds shipping through its group;
-- regress_e_nogrant holds nothing.  Nobody holds marketing.
CREATE ROLE regress_e_app;
CREATE ROLE regress_e_two;
CREATE ROLE regress_e_group;
CREATE ROLE regress_e_member IN ROLE regress_e_group;
CREATE ROLE regress_e_nogrant;
CREATE ROLE regress_e_super SUPERUSER;

SELECT personal_data.define_purpose('billing', 'customer');
SELECT personal_data.define_purpose('support', 'customer');
SELECT personal_data.define_purpose('shipping', 'customer');
SELECT personal_data.define_purpose('marketing', 'customer');
SELECT personal_data.grant_purpose('regress_e_app', 'billing');
SELECT personal_data.grant_purpose('regress_e_two', 'billing');
SELECT personal_data.grant_purpose('regress_e_two', 'support');
SELECT personal_data.grant_purpose('regress_e_group', 'shipping');

--   email    billing, support   error
--   phone    support, shipping  null
--   address  billing, shipping  error
--   coupon   marketing          null   (nobody holds marketing)
-- Phones are numbered against the ids, so that ordering by phone shows.
CREATE TABLE regress_customers (
	id integer PRIMARY KEY,
	name text,
	email text,
	phone text,
	address text,
	coupon text
);
INSERT INTO regress_customers VALUES
	(1, 'Aiko', 'aiko@example.com', '090-3333', 'Tokyo', 'A-1'),
	(2, 'Ben', 'ben@example.com', '090-1111', 'Osaka', NULL),
	(3, 'Chie', 'chie@example.com', '090-2222', 'Kyoto', 'C-3'),
	(4, 'Dan', 'dan@example.com', NULL, 'Nagoya', NULL);
ALTER TABLE regress_customers OWNER TO regress_e_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_customers
	TO regress_e_two, regress_e_group, regress_e_nogrant;
SELECT personal_data.register_table('regress_customers', 'id');
SELECT personal_data.label_column('regress_customers', 'email', ARRAY['billing', 'support']);
SELECT personal_data.label_column('regress_customers', 'phone', ARRAY['support', 'shipping'], 'null');
SELECT personal_data.label_column('regress_customers', 'address', ARRAY['billing', 'shipping']);
SELECT personal_data.label_column('regress_customers', 'coupon', ARRAY['marketing'], 'null');

-- an unregistered table, with a column named like a labelled one
CREATE TABLE regress_plain (id integer, email text, phone text);
INSERT INTO regress_plain VALUES (1, 'plain@example.com', '090-1111'), (2, NULL, '090-2222');
GRANT SELECT, INSERT, UPDATE ON regress_plain TO PUBLIC;

------------------------------------------------------------------------------
-- The four refusals, as the owner
------------------------------------------------------------------------------

SET ROLE regress_e_app;
-- no purpose: unlabelled columns and row counts are fine, a masked column
-- is NULL, an error column is refused
SHOW personal_data.purpose;
SELECT id, name FROM regress_customers ORDER BY id;
SELECT count(*) FROM regress_customers;
SELECT id, phone, coupon FROM regress_customers ORDER BY id;
SELECT id, email FROM regress_customers ORDER BY id;
\echo :SQLSTATE
-- the first refused column in the table's column order is named
SELECT * FROM regress_customers;
\echo :SQLSTATE
SELECT id FROM regress_customers WHERE address = 'Tokyo';
\echo :SQLSTATE
-- an undefined purpose
SET personal_data.purpose = 'nonesuch';
SELECT id, email FROM regress_customers ORDER BY id;
\echo :SQLSTATE
-- a defined purpose not granted to the role
SET personal_data.purpose = 'support';
SELECT id, email FROM regress_customers ORDER BY id;
\echo :SQLSTATE
-- a granted purpose the column was not collected for
RESET ROLE;
SET ROLE regress_e_two;
SET personal_data.purpose = 'support';
SELECT id, address FROM regress_customers ORDER BY id;
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_e_app;
SET personal_data.purpose = 'billing';
-- permitted
SELECT id, name, email, address FROM regress_customers ORDER BY id;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Each role under each purpose: column_access() agrees with queries
------------------------------------------------------------------------------

-- What a query on each labelled column does for the session: 'values',
-- 'NULL' (every row reads NULL although some hold a value), or the
-- SQLSTATE of the refusal.  Dynamic SQL, so nothing is cached.
CREATE FUNCTION regress_try_column(col name) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	n_values bigint;
BEGIN
	EXECUTE format('SELECT count(%I) FROM regress_customers', col) INTO n_values;
	RETURN CASE WHEN n_values > 0 THEN 'values' ELSE 'NULL' END;
EXCEPTION WHEN insufficient_privilege THEN
	RETURN SQLSTATE;
END
$$;
CREATE TEMP TABLE matrix (
	step serial,
	role_name name,
	purpose text,
	column_name name,
	on_denied text,
	allowed boolean,
	query text
);
GRANT INSERT ON matrix TO PUBLIC;
GRANT USAGE ON SEQUENCE matrix_step_seq TO PUBLIC;
\set look 'INSERT INTO matrix (role_name, purpose, column_name, on_denied, allowed, query) SELECT current_user, current_setting(\'personal_data.purpose\'), a.column_name, a.on_denied, a.allowed, regress_try_column(a.column_name) FROM personal_data.column_access(\'regress_customers\') a ORDER BY a.column_name;'
\set purposes 'SET personal_data.purpose = \'\'; :look SET personal_data.purpose = \'nonesuch\'; :look SET personal_data.purpose = \'billing\'; :look SET personal_data.purpose = \'support\'; :look SET personal_data.purpose = \'shipping\'; :look SET personal_data.purpose = \'marketing\'; :look RESET personal_data.purpose;'

SET ROLE regress_e_app;
:purposes
SET ROLE regress_e_two;
:purposes
SET ROLE regress_e_member;
:purposes
SET ROLE regress_e_nogrant;
:purposes
SET ROLE regress_e_super;
:purposes
RESET ROLE;

-- one line per session and purpose: what each column does
SELECT role_name, purpose,
       string_agg(format('%s=%s', column_name, query), ' ' ORDER BY column_name) AS columns
  FROM matrix GROUP BY role_name, purpose ORDER BY min(step);
-- column_access() says allowed exactly when the query gets the values; a
-- column it refuses reads NULL or errors as its label says (no rows)
SELECT role_name, purpose, column_name, on_denied, allowed, query
  FROM matrix
 WHERE allowed <> (query = 'values')
    OR (NOT allowed AND query <> CASE on_denied WHEN 'null' THEN 'NULL' ELSE '42501' END)
 ORDER BY step;

------------------------------------------------------------------------------
-- on_denied=null reads NULL everywhere in the query
------------------------------------------------------------------------------

-- regress_e_app under billing: phone and coupon are masked; email and
-- address are allowed
SET ROLE regress_e_app;
SET personal_data.purpose = 'billing';
-- target list
SELECT id, email, phone, coupon FROM regress_customers ORDER BY id;
-- WHERE
SELECT count(*) FROM regress_customers WHERE phone IS NOT NULL;
SELECT count(*) FROM regress_customers WHERE phone IS NULL;
SELECT id FROM regress_customers WHERE phone = '090-1111';
SELECT id FROM regress_customers WHERE coupon LIKE '%' OR phone > '';
-- ORDER BY: unmasked this would be 2, 3, 1, 4
SELECT id FROM regress_customers ORDER BY phone NULLS FIRST, id;
-- GROUP BY and aggregates
SELECT phone, count(*), count(phone) AS phones, max(phone) FROM regress_customers GROUP BY phone;
SELECT count(DISTINCT phone) FROM regress_customers;
-- joins: on the masked column, with the unregistered table and with itself
SELECT c.id, p.id FROM regress_customers c JOIN regress_plain p ON p.phone = c.phone;
SELECT count(*) FROM regress_customers a JOIN regress_customers b ON a.phone = b.phone;
SELECT c.id, p.phone FROM regress_customers c LEFT JOIN regress_plain p USING (phone) ORDER BY c.id;
-- subqueries, CTEs, EXISTS
SELECT id FROM regress_customers WHERE id IN (SELECT id FROM regress_customers WHERE phone IS NOT NULL);
WITH c AS (SELECT id, phone FROM regress_customers) SELECT * FROM c ORDER BY id;
SELECT count(*) FROM regress_plain p
 WHERE EXISTS (SELECT FROM regress_customers c WHERE c.phone = p.phone);
SELECT (SELECT max(phone) FROM regress_customers) AS max_phone;
-- whole-row references
SELECT c FROM regress_customers c ORDER BY id;
SELECT row_to_json(c) FROM regress_customers c WHERE id = 1;
SELECT (c).phone, (c).email FROM regress_customers c WHERE id = 1;
SELECT c.* FROM regress_customers c WHERE id = 1;
SELECT count(*) FROM regress_customers c WHERE c IS NOT NULL;
SELECT to_jsonb(c) ? 'phone' AS has_key, to_jsonb(c) ->> 'phone' AS phone
  FROM regress_customers c WHERE id = 1;
-- reading a masked column into another (its value is NULL) is allowed
BEGIN;
UPDATE regress_customers SET name = phone WHERE id = 1 RETURNING id, name;
ROLLBACK;
-- writing a masked column is refused, whatever is written
UPDATE regress_customers SET phone = '090-9999' WHERE id = 1;
\echo :SQLSTATE
UPDATE regress_customers SET phone = NULL WHERE id = 4;
\echo :SQLSTATE
UPDATE regress_customers SET coupon = coupon;
\echo :SQLSTATE
INSERT INTO regress_customers (id, name, phone) VALUES (5, 'Eri', '090-5555');
\echo :SQLSTATE
INSERT INTO regress_customers VALUES (5, 'Eri', 'eri@example.com', NULL, 'Sendai', NULL);
\echo :SQLSTATE
INSERT INTO regress_customers (id, name) VALUES (1, 'Aiko')
	ON CONFLICT (id) DO UPDATE SET phone = excluded.phone;
\echo :SQLSTATE
-- an error column in a write refused too: app may write email (billing)
-- but not with the purpose unset
RESET personal_data.purpose;
UPDATE regress_customers SET email = 'x' WHERE false;
\echo :SQLSTATE
SET personal_data.purpose = 'billing';
-- writes of allowed columns work; RETURNING masks like a SELECT
INSERT INTO regress_customers (id, name, email, address) VALUES (5, 'Eri', 'eri@example.com', 'Sendai')
	RETURNING id, email, phone, coupon;
INSERT INTO regress_customers (id, name) VALUES (5, 'Eri')
	ON CONFLICT (id) DO UPDATE SET email = 'eri@example.net' RETURNING *;
UPDATE regress_customers SET email = 'aiko@example.net' WHERE id = 1 RETURNING *;
-- (row counts shown through a CTE: the masked column matches no row, or all)
WITH u AS (UPDATE regress_customers SET address = 'Nowhere' WHERE phone IS NOT NULL RETURNING id)
SELECT count(*) AS updated FROM u;
WITH u AS (UPDATE regress_customers SET address = address WHERE phone IS NULL RETURNING id)
SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM regress_customers WHERE phone = '090-1111' RETURNING id)
SELECT count(*) AS deleted FROM d;
DELETE FROM regress_customers c WHERE id = 5 RETURNING c;
-- RETURNING an error column: allowed under billing, refused without a purpose
UPDATE regress_customers SET name = name WHERE id = 1 RETURNING id, email;
RESET personal_data.purpose;
UPDATE regress_customers SET name = name WHERE id = 1 RETURNING id, email;
\echo :SQLSTATE
DELETE FROM regress_customers WHERE id = 1 RETURNING *;
\echo :SQLSTATE
DELETE FROM regress_customers WHERE email = 'aiko@example.net';
\echo :SQLSTATE
RESET ROLE;
-- nothing above changed the table but email of 1 (superuser view)
SELECT * FROM regress_customers ORDER BY id;

------------------------------------------------------------------------------
-- Views and functions: the session's purpose and role count
------------------------------------------------------------------------------

-- owned by the superuser running this file; SECURITY DEFINER functions too
CREATE VIEW regress_contacts AS
	SELECT id, name, email, phone FROM regress_customers;
GRANT SELECT ON regress_contacts TO PUBLIC;
-- inlined into the calling query by the planner
CREATE FUNCTION regress_sql_contact(customer integer)
RETURNS TABLE (email text, phone text)
LANGUAGE sql STABLE AS $$
	SELECT email, phone FROM regress_customers WHERE id = customer
$$;
-- not inlined, being SECURITY DEFINER; a scalar SQL function with a FROM
-- is not inlined either
CREATE FUNCTION regress_sql_phone(customer integer) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT phone FROM regress_customers WHERE id = customer
$$;
CREATE FUNCTION regress_definer_contact(customer integer)
RETURNS TABLE (email text, phone text)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
	SELECT email, phone FROM regress_customers WHERE id = customer
$$;
CREATE FUNCTION regress_plpgsql_contact(customer integer) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
	r record;
BEGIN
	SELECT c.email, c.phone INTO r FROM regress_customers c WHERE c.id = customer;
	RETURN format('%s / %s', r.email, coalesce(r.phone, '(null)'));
END
$$;
CREATE FUNCTION regress_plpgsql_phones() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT count(*) FROM regress_customers WHERE phone IS NOT NULL);
END
$$;

-- regress_e_two under support: everything in these
SET ROLE regress_e_two;
SET personal_data.purpose = 'support';
SELECT * FROM regress_contacts ORDER BY id;
SELECT * FROM regress_sql_contact(2);
SELECT * FROM regress_definer_contact(2);
SELECT regress_sql_phone(2), regress_plpgsql_contact(2), regress_plpgsql_phones();
-- ... under billing: phone reads NULL in each
SET personal_data.purpose = 'billing';
SELECT * FROM regress_contacts ORDER BY id;
SELECT * FROM regress_contacts WHERE phone IS NOT NULL;
SELECT * FROM regress_sql_contact(2);
SELECT * FROM regress_definer_contact(2);
SELECT regress_sql_phone(2), regress_plpgsql_contact(2), regress_plpgsql_phones();
-- ... with no purpose: email is refused in each
RESET personal_data.purpose;
SELECT * FROM regress_contacts ORDER BY id;
\echo :SQLSTATE
SELECT * FROM regress_sql_contact(2);
\echo :SQLSTATE
SELECT * FROM regress_definer_contact(2);
\echo :SQLSTATE
SELECT regress_plpgsql_contact(2);
\echo :SQLSTATE
RESET ROLE;
-- regress_e_nogrant under billing, although the superuser owns them all
SET ROLE regress_e_nogrant;
SET personal_data.purpose = 'billing';
SELECT * FROM regress_contacts ORDER BY id;
\echo :SQLSTATE
SELECT * FROM regress_definer_contact(2);
\echo :SQLSTATE
SELECT regress_plpgsql_contact(2);
\echo :SQLSTATE
SELECT regress_plpgsql_phones();
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Prepared statements and cached plans follow the purpose of each execution
------------------------------------------------------------------------------

-- a generic plan from the first execution on: the plan is reused, unless
-- enforcement makes it replan
SET plan_cache_mode = force_generic_plan;
SET ROLE regress_e_two;
SET personal_data.purpose = 'support';
PREPARE contacts AS SELECT id, email, phone FROM regress_customers WHERE id <= 2 ORDER BY id;
PREPARE phones AS SELECT count(*) FROM regress_customers WHERE phone IS NOT NULL;
EXECUTE contacts;
EXECUTE phones;
SET personal_data.purpose = 'billing';
EXECUTE contacts;
EXECUTE phones;
SET personal_data.purpose = 'shipping';
EXECUTE contacts;
\echo :SQLSTATE
EXECUTE phones;
SET personal_data.purpose = 'support';
EXECUTE contacts;
EXECUTE phones;
-- SET LOCAL, in and after a transaction
BEGIN;
SET LOCAL personal_data.purpose = 'billing';
EXECUTE contacts;
COMMIT;
EXECUTE contacts;
-- another role in the same session
RESET ROLE;
SET ROLE regress_e_nogrant;
EXECUTE contacts;
\echo :SQLSTATE
EXECUTE phones;
RESET ROLE;
SET ROLE regress_e_two;
EXECUTE contacts;
-- a cursor opened under one purpose keeps what it was opened with; a new
-- one follows the new purpose
BEGIN;
DECLARE cur CURSOR FOR SELECT id, phone FROM regress_customers ORDER BY id;
FETCH 1 FROM cur;
SET LOCAL personal_data.purpose = 'billing';
FETCH 1 FROM cur;
DECLARE cur2 CURSOR FOR SELECT id, phone FROM regress_customers ORDER BY id;
FETCH 2 FROM cur2;
COMMIT;
DEALLOCATE contacts;
DEALLOCATE phones;
RESET personal_data.purpose;
RESET ROLE;
RESET plan_cache_mode;

------------------------------------------------------------------------------
-- Superusers, and switching enforcement off
------------------------------------------------------------------------------

-- only a superuser may switch it off
SET ROLE regress_e_app;
SET personal_data.enforce = off;
\echo :SQLSTATE
BEGIN;
SET LOCAL personal_data.enforce = off;
\echo :SQLSTATE
ROLLBACK;
SELECT set_config('personal_data.enforce', 'off', false);
\echo :SQLSTATE
SHOW personal_data.enforce;
ALTER ROLE regress_e_app SET personal_data.enforce = off;
\echo :SQLSTATE
RESET ROLE;
-- a superuser reads everything, with no purpose, or any purpose
SET ROLE regress_e_super;
SELECT * FROM regress_customers ORDER BY id;
SET personal_data.purpose = 'marketing';
SELECT c FROM regress_customers c WHERE id = 2;
RESET personal_data.purpose;
-- ... and can switch enforcement off: then nobody is checked
SET personal_data.enforce = off;
SET ROLE regress_e_nogrant;
SHOW personal_data.enforce;
SELECT id, email, phone, coupon FROM regress_customers ORDER BY id;
RESET ROLE;
RESET personal_data.enforce;
SET ROLE regress_e_nogrant;
SHOW personal_data.enforce;
SELECT id, email FROM regress_customers ORDER BY id;
\echo :SQLSTATE
RESET ROLE;

------------------------------------------------------------------------------
-- Unregistered tables are untouched
------------------------------------------------------------------------------

SET ROLE regress_e_nogrant;
SELECT * FROM regress_plain ORDER BY id;
SELECT p FROM regress_plain p ORDER BY id;
UPDATE regress_plain SET email = email, phone = phone;
RESET ROLE;
-- a registered table with no labelled column, and a table taken out
CREATE TABLE regress_visits (customer integer, visited date);
INSERT INTO regress_visits VALUES (1, '2024-01-02');
GRANT SELECT ON regress_visits TO PUBLIC;
SELECT personal_data.register_table('regress_visits', 'customer');
SET ROLE regress_e_nogrant;
SELECT * FROM regress_visits;
RESET ROLE;
SELECT personal_data.unregister_table('regress_visits');

------------------------------------------------------------------------------
-- COPY goes through the same checks
------------------------------------------------------------------------------

-- rows in id order for COPY, which has no ORDER BY
CLUSTER regress_customers USING regress_customers_pkey;
SET ROLE regress_e_app;
SET personal_data.purpose = 'billing';
-- allowed columns only
COPY regress_customers (id, email, address) TO STDOUT;
-- masked columns print as \N
COPY regress_customers TO STDOUT;
COPY regress_customers (id, phone) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT id, phone FROM regress_customers ORDER BY id) TO STDOUT;
-- an error column is refused
RESET personal_data.purpose;
COPY regress_customers TO STDOUT;
\echo :SQLSTATE
COPY regress_customers (id, address) TO STDOUT;
\echo :SQLSTATE
COPY (SELECT email FROM regress_customers) TO STDOUT;
\echo :SQLSTATE
COPY regress_customers (id, name) TO STDOUT;
-- COPY FROM is checked as an INSERT of its columns
\copy regress_customers (id, name, email) from /dev/null
\echo :SQLSTATE
SET personal_data.purpose = 'billing';
\copy regress_customers (id, name, phone) from /dev/null
\echo :SQLSTATE
COPY regress_customers (id, name, email) FROM STDIN;
6	Fumi	fumi@example.com
\.
SELECT id, name, email, phone FROM regress_customers WHERE id = 6;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Minors: a guardian's consent is needed to collect a minor's data
------------------------------------------------------------------------------

-- subjects under personal_data.minor_age (16) by their birthdate
CREATE TABLE regress_members (
	member text PRIMARY KEY,
	nickname text,
	born date
);
ALTER TABLE regress_members OWNER TO regress_e_app;
SELECT personal_data.register_table('regress_members', 'member', birthdate_column => 'born');
SELECT personal_data.label_column('regress_members', 'nickname', ARRAY['billing']);
SELECT personal_data.record_consent('m-guarded', 'billing', by_guardian => true) > 0 AS recorded;
SELECT personal_data.record_consent('m-self', 'billing') > 0 AS recorded;
SELECT personal_data.record_consent('m-other-purpose', 'support', by_guardian => true) > 0 AS recorded;
SELECT personal_data.record_consent('m-withdrawn', 'billing', by_guardian => true) > 0 AS recorded;
SELECT personal_data.withdraw_consent('m-withdrawn', 'billing');
SET ROLE regress_e_app;
SET personal_data.purpose = 'billing';
-- adults, and members whose birthdate is not known, need no guardian
INSERT INTO regress_members VALUES ('m-adult', 'Ada', current_date - interval '30 years');
INSERT INTO regress_members VALUES ('m-sixteen', 'Sixteen', current_date - interval '16 years');
INSERT INTO regress_members VALUES ('m-unknown', 'Unknown', NULL);
-- a minor without a guardian's consent for the purpose
INSERT INTO regress_members VALUES ('m-minor', 'Mina', current_date - interval '10 years');
\echo :SQLSTATE
INSERT INTO regress_members VALUES ('m-almost', 'Almost', (current_date - interval '16 years')::date + 1);
\echo :SQLSTATE
-- the minor's own consent, a guardian's consent to another purpose, a
-- withdrawn one: none counts
INSERT INTO regress_members VALUES ('m-self', 'Self', current_date - interval '10 years');
\echo :SQLSTATE
INSERT INTO regress_members VALUES ('m-other-purpose', 'Other', current_date - interval '10 years');
\echo :SQLSTATE
INSERT INTO regress_members VALUES ('m-withdrawn', 'Withdrawn', current_date - interval '10 years');
\echo :SQLSTATE
-- with a guardian's consent
INSERT INTO regress_members VALUES ('m-guarded', 'Guarded', current_date - interval '10 years')
	RETURNING member, nickname;
-- one bad row fails the whole statement
INSERT INTO regress_members VALUES
	('m-adult2', 'Adam', current_date - interval '40 years'),
	('m-minor', 'Mina', current_date - interval '10 years');
\echo :SQLSTATE
-- UPDATE that makes an adult a minor, or moves a row to a minor subject
UPDATE regress_members SET born = current_date - interval '10 years' WHERE member = 'm-adult';
\echo :SQLSTATE
UPDATE regress_members SET member = 'm-minor' WHERE member = 'm-guarded';
\echo :SQLSTATE
UPDATE regress_members SET born = NULL WHERE member = 'm-unknown';
UPDATE regress_members SET born = current_date - interval '9 years' WHERE member = 'm-guarded';
-- the guardian's consent is for billing: not under another purpose (and
-- with no purpose at all), even writing only unlabelled columns
RESET personal_data.purpose;
INSERT INTO regress_members (member, born) VALUES ('m-guarded2', current_date - interval '10 years');
\echo :SQLSTATE
SET personal_data.purpose = 'billing';
-- ON CONFLICT DO UPDATE checks the updated row too
INSERT INTO regress_members VALUES ('m-adult', 'Ada', current_date - interval '30 years')
	ON CONFLICT (member) DO UPDATE SET born = current_date - interval '10 years';
\echo :SQLSTATE
-- a plan cached under one minor_age does not serve another (a superuser
-- changes it here as a reload of postgresql.conf would)
SET plan_cache_mode = force_generic_plan;
PREPARE add_member(text) AS
	INSERT INTO regress_members VALUES ($1, 'Ten', current_date - interval '10 years');
EXECUTE add_member('m-ten');
\echo :SQLSTATE
RESET ROLE;
SET personal_data.minor_age = 8;
SET ROLE regress_e_app;
EXECUTE add_member('m-ten');
\echo :SQLSTATE
RESET ROLE;
SET personal_data.minor_age = 12;
SET ROLE regress_e_app;
EXECUTE add_member('m-ten-again');
\echo :SQLSTATE
RESET ROLE;
RESET personal_data.minor_age;
SET ROLE regress_e_app;
DEALLOCATE add_member;
RESET plan_cache_mode;
-- COPY FROM cannot check consents and is refused
\copy regress_members from /dev/null
\echo :SQLSTATE
RESET personal_data.purpose;
RESET ROLE;
SELECT member, nickname, born IS NULL AS born_unknown,
       born > current_date - interval '16 years' AS minor
  FROM regress_members ORDER BY member;
-- superusers are not checked
INSERT INTO regress_members VALUES ('m-minor', 'Mina', current_date - interval '10 years');
\copy regress_members from /dev/null
-- ... but any later write of that row by others is, reading is not
SET ROLE regress_e_app;
SET personal_data.purpose = 'billing';
SELECT member, nickname FROM regress_members WHERE member = 'm-minor';
UPDATE regress_members SET nickname = 'Mina-chan' WHERE member = 'm-minor';
\echo :SQLSTATE
WITH d AS (DELETE FROM regress_members WHERE member = 'm-minor' RETURNING member)
SELECT count(*) AS deleted FROM d;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------

DROP FUNCTION regress_try_column(name), regress_sql_contact(integer), regress_sql_phone(integer),
	regress_definer_contact(integer), regress_plpgsql_contact(integer),
	regress_plpgsql_phones();
DROP VIEW regress_contacts;
DROP TABLE matrix;
SELECT personal_data.unregister_table('regress_customers');
SELECT personal_data.unregister_table('regress_members');
DROP TABLE regress_customers, regress_members, regress_plain, regress_visits;
DELETE FROM personal_data.consents;
SELECT personal_data.revoke_purpose(role, purpose)
  FROM personal_data.purpose_grants ORDER BY role::text, purpose;
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP ROLE regress_e_app, regress_e_two, regress_e_member, regress_e_group,
	regress_e_nogrant, regress_e_super;
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;
