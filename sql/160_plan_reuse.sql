--
-- 160_plan_reuse: prepared statements and cached plans across purposes.
--
-- A change of purpose resets the plan cache only after a plan whose
-- rewrite depends on the purpose was made (masked columns, third parties'
-- filters); other plans are kept, and what they may do is decided each time
-- they run.  Each case runs a plan made under one purpose under another.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE ROLE regress_pr_app;
GRANT CREATE ON SCHEMA public TO regress_pr_app;
SELECT personal_data.define_purpose('pr_billing', 'customer');
SELECT personal_data.define_purpose('pr_support', 'customer');
SELECT personal_data.grant_purpose('regress_pr_app', 'pr_billing');
SELECT personal_data.grant_purpose('regress_pr_app', 'pr_support');

-- no on_denied=null column: plans independent of the purpose
CREATE TABLE regress_pr_accounts (id integer PRIMARY KEY, email text, iban text);
INSERT INTO regress_pr_accounts VALUES (1, 'a@example.com', 'DE01'), (2, 'b@example.com', 'DE02');
ALTER TABLE regress_pr_accounts OWNER TO regress_pr_app;
SELECT personal_data.register_table('regress_pr_accounts', 'id');
SELECT personal_data.label_column('regress_pr_accounts', 'email', ARRAY['pr_billing', 'pr_support']);
SELECT personal_data.label_column('regress_pr_accounts', 'iban', ARRAY['pr_billing']);

-- an on_denied=null column
CREATE TABLE regress_pr_tickets (id integer PRIMARY KEY, customer integer, note text);
INSERT INTO regress_pr_tickets VALUES (1, 1, 'refund'), (2, 2, 'late');
ALTER TABLE regress_pr_tickets OWNER TO regress_pr_app;
SELECT personal_data.register_table('regress_pr_tickets', 'customer');
SELECT personal_data.label_column('regress_pr_tickets', 'note', ARRAY['pr_support'], 'null');

-- minors
CREATE TABLE regress_pr_members (member text PRIMARY KEY, nickname text, born date);
ALTER TABLE regress_pr_members OWNER TO regress_pr_app;
SELECT personal_data.register_table('regress_pr_members', 'member', birthdate_column => 'born');
SELECT personal_data.record_consent('pr-kid', 'pr_support', by_guardian => true) > 0 AS recorded;

SET ROLE regress_pr_app;

------------------------------------------------------------------------------
-- A prepared statement made under pr_billing, run under pr_support, no
-- purpose, and pr_billing again: the purpose of each run decides.
------------------------------------------------------------------------------
SET personal_data.purpose = 'pr_billing';
PREPARE pr_iban(integer) AS SELECT id, iban FROM regress_pr_accounts WHERE id = $1;
EXECUTE pr_iban(1);
SET personal_data.purpose = 'pr_support';
EXECUTE pr_iban(1);
\echo :SQLSTATE
SELECT set_config('personal_data.purpose', '', false);
EXECUTE pr_iban(2);
\echo :SQLSTATE
SELECT set_config('personal_data.purpose', 'pr_billing', false);
EXECUTE pr_iban(2);
-- and the other way: made where it is refused, run where it is allowed
SET personal_data.purpose = 'pr_support';
PREPARE pr_both AS SELECT id, email, iban FROM regress_pr_accounts ORDER BY id;
EXECUTE pr_both;
\echo :SQLSTATE
SET personal_data.purpose = 'pr_billing';
EXECUTE pr_both;

-- a PL/pgSQL function's cached plan, the purpose stated per transaction
CREATE FUNCTION regress_pr_iban(account integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT iban FROM regress_pr_accounts WHERE id = account);
END
$$;
BEGIN;
SET LOCAL personal_data.purpose = 'pr_billing';
SELECT regress_pr_iban(1);
COMMIT;
BEGIN;
SET LOCAL personal_data.purpose = 'pr_support';
SELECT regress_pr_iban(1);
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL personal_data.purpose = 'pr_billing';
SELECT regress_pr_iban(2);
COMMIT;

------------------------------------------------------------------------------
-- Masked columns: the plan is made again for each purpose.
------------------------------------------------------------------------------
SET personal_data.purpose = 'pr_support';
PREPARE pr_note AS SELECT id, note FROM regress_pr_tickets ORDER BY id;
EXECUTE pr_note;
SET personal_data.purpose = 'pr_billing';
EXECUTE pr_note;
SET personal_data.purpose = 'pr_support';
EXECUTE pr_note;
-- a plan of another table made in between does not keep the masked plan
-- from being made again
EXECUTE pr_iban(1);
\echo :SQLSTATE
SET personal_data.purpose = 'pr_billing';
EXECUTE pr_iban(1);
EXECUTE pr_note;
-- in a PL/pgSQL function, the purpose changing between its calls
CREATE FUNCTION regress_pr_note(ticket integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT note FROM regress_pr_tickets WHERE id = ticket);
END
$$;
SELECT regress_pr_note(1) AS under_billing;
SET personal_data.purpose = 'pr_support';
SELECT regress_pr_note(1) AS under_support;
SET personal_data.purpose = 'pr_billing';
SELECT regress_pr_note(1) AS under_billing;

------------------------------------------------------------------------------
-- Minors: the guardian's consent is checked against the purpose of the run.
-- The guardian consented to pr_support only.
------------------------------------------------------------------------------
SET personal_data.purpose = 'pr_support';
PREPARE pr_join(text) AS
	INSERT INTO regress_pr_members VALUES ($1, NULL, current_date - interval '10 years');
EXECUTE pr_join('pr-kid');
DELETE FROM regress_pr_members;
SET personal_data.purpose = 'pr_billing';
EXECUTE pr_join('pr-kid');
\echo :SQLSTATE
SET personal_data.purpose = 'pr_support';
EXECUTE pr_join('pr-kid');
SELECT member FROM regress_pr_members;
-- the same plan, the purpose set by a function's SET clause
CREATE FUNCTION regress_pr_join_as_billing(who text) RETURNS void
LANGUAGE plpgsql SET personal_data.purpose = 'pr_billing' AS $$
BEGIN
	INSERT INTO regress_pr_members VALUES (who, NULL, current_date - interval '10 years');
END
$$;
DELETE FROM regress_pr_members;
SELECT regress_pr_join_as_billing('pr-kid');
\echo :SQLSTATE
SELECT count(*) FROM regress_pr_members;

------------------------------------------------------------------------------
-- A plan rewritten for one purpose does not run under another: a SQL
-- function's statements are planned together, on its first call, so one
-- that changes the purpose and then reads would run a plan made for the
-- purpose before.  The plan checks, when it runs (a one-time filter).
------------------------------------------------------------------------------
CREATE FUNCTION regress_pr_switch_then_read() RETURNS SETOF text
LANGUAGE sql AS $$
	SELECT set_config('personal_data.purpose', 'pr_support', false);
	SELECT note FROM regress_pr_tickets ORDER BY id;
$$;
-- planned under pr_billing (note masked), it would run under pr_support
SET personal_data.purpose = 'pr_billing';
SELECT regress_pr_switch_then_read();
\echo :SQLSTATE
SHOW personal_data.purpose;
-- and a purpose changed while a statement is planned (a function the planner evaluates)
CREATE FUNCTION regress_pr_switch(purpose text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT length(set_config('personal_data.purpose', purpose, false)) $$;
SET personal_data.purpose = 'pr_support';
PREPARE pr_switch AS SELECT id, note FROM regress_pr_tickets WHERE regress_pr_switch('pr_billing') > 0;
EXECUTE pr_switch;
\echo :SQLSTATE

-- a cursor rewritten for a purpose: refused if the purpose changed before
-- its first row, kept once it has started
SET personal_data.purpose = 'pr_billing';
BEGIN;
DECLARE pr_c1 CURSOR FOR SELECT id, note FROM regress_pr_tickets ORDER BY id;
DECLARE pr_c2 CURSOR FOR SELECT id, note FROM regress_pr_tickets ORDER BY id;
FETCH 1 FROM pr_c2;
SET LOCAL personal_data.purpose = 'pr_support';
FETCH 1 FROM pr_c2;
FETCH 1 FROM pr_c1;
\echo :SQLSTATE
ROLLBACK;

------------------------------------------------------------------------------
-- A guardian's consent counts for a purpose the role is granted only.
------------------------------------------------------------------------------
RESET ROLE;
SELECT personal_data.define_purpose('pr_other', 'customer');
SELECT personal_data.record_consent('pr-kid2', 'pr_other', by_guardian => true) > 0 AS recorded;
SET ROLE regress_pr_app;
SET personal_data.purpose = 'pr_other';
INSERT INTO regress_pr_members VALUES ('pr-kid2', NULL, current_date - interval '10 years');
\echo :SQLSTATE
RESET ROLE;
SELECT personal_data.grant_purpose('regress_pr_app', 'pr_other');
SET ROLE regress_pr_app;
INSERT INTO regress_pr_members VALUES ('pr-kid2', NULL, current_date - interval '10 years');
SELECT member FROM regress_pr_members ORDER BY member;

RESET personal_data.purpose;
DEALLOCATE ALL;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_pr_app;
