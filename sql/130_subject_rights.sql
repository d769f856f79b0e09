-- 130_subject_rights: subject_data() and erase_subject() read and write each
-- registered table as its owner (security-restricted), match the subject as
-- the subject column's type says, and run for a compliance role whose
-- purpose does not cover the tables.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext;
RESET client_min_messages;
CREATE ROLE regress_sr_app LOGIN;
CREATE ROLE regress_sr_compliance LOGIN;
CREATE SCHEMA sr_app AUTHORIZATION regress_sr_app;
SELECT personal_data.define_purpose('sr_contract', 'customer');
GRANT EXECUTE ON FUNCTION personal_data.subject_data(text, bigint),
	personal_data.erase_subject(text, bigint, text) TO regress_sr_compliance;

SET ROLE regress_sr_app;
CREATE TABLE sr_app.customers (email citext PRIMARY KEY, name text);
CREATE TABLE sr_app.orders (id int PRIMARY KEY, email citext REFERENCES sr_app.customers, item text);
CREATE INDEX ON sr_app.orders (email);
CREATE TABLE sr_app.ran (who text, superuser boolean);
CREATE FUNCTION sr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO sr_app.ran SELECT 'trigger:' || current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
END $$;
CREATE FUNCTION sr_app.note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM sr_app.helper(); RETURN OLD; END $$;
CREATE TRIGGER note BEFORE DELETE ON sr_app.orders FOR EACH ROW EXECUTE FUNCTION sr_app.note();
INSERT INTO sr_app.customers VALUES ('Ann@Example.com', 'Ann'), ('bo@example.com', 'Bo');
INSERT INTO sr_app.orders VALUES (1, 'ann@example.com', 'heater'), (2, 'ANN@EXAMPLE.COM', 'fan'), (3, 'bo@example.com', 'lamp');
RESET ROLE;
SET client_min_messages = error;	-- the warning about the trigger
SELECT personal_data.register_table('sr_app.customers', 'email');
SELECT personal_data.register_table('sr_app.orders', 'email');
RESET client_min_messages;
SELECT personal_data.label_column('sr_app.customers', 'name', ARRAY['sr_contract']);
SELECT personal_data.label_column('sr_app.orders', 'item', ARRAY['sr_contract']);

-- the compliance role has no purpose that covers the tables, and reads them all the same
SET ROLE regress_sr_compliance;
SELECT jsonb_pretty(personal_data.subject_data('ann@example.com')->'data');
-- but not directly
SELECT name FROM sr_app.customers;
RESET ROLE;

-- a hold on the subject in another case keeps it (citext)
SELECT personal_data.place_hold('ANN@example.COM', 'litigation') > 0 AS placed;
SET ROLE regress_sr_compliance;
SELECT personal_data.erase_subject('ann@example.com');
RESET ROLE;
SELECT count(*) AS released FROM personal_data.holds h, personal_data.release_hold(h.id) WHERE h.reason = 'litigation';

-- the erasure runs the table's trigger as its owner, children first
SET ROLE regress_sr_compliance;
SELECT personal_data.erase_subject('ann@example.com');
RESET ROLE;
SELECT * FROM sr_app.ran;
SELECT email, item FROM sr_app.orders ORDER BY id;
SELECT email FROM sr_app.customers;

-- the owner's code is security-restricted
SET ROLE regress_sr_app;
CREATE OR REPLACE FUNCTION sr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN CREATE TEMP TABLE sr_escape (x int); END $$;
RESET ROLE;
SET ROLE regress_sr_compliance;
SELECT personal_data.erase_subject('bo@example.com');
RESET ROLE;
SELECT email, item FROM sr_app.orders;

-- an application role cannot call them
SET ROLE regress_sr_app;
SELECT personal_data.subject_data('bo@example.com');
SELECT personal_data.erase_subject('bo@example.com');
RESET ROLE;

-- found by red-teaming these functions:
-- S1: a hold compares as the subject column does (a nondeterministic collation)
CREATE COLLATION sr_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE sr_app.ci_people (email text COLLATE sr_ci, note text);
ALTER TABLE sr_app.ci_people OWNER TO regress_sr_app;
INSERT INTO sr_app.ci_people VALUES ('Carl@X', 'carl-note');
SELECT personal_data.register_table('sr_app.ci_people', 'email');
SELECT personal_data.label_column('sr_app.ci_people', 'note', ARRAY['sr_contract']);
SELECT personal_data.place_hold('Carl@X', 'S1') > 0 AS placed;
SET ROLE regress_sr_compliance;
SELECT personal_data.subject_data('carl@x')->'data';
SELECT personal_data.erase_subject('carl@x', NULL, 'delete');
RESET ROLE;
SELECT count(*) AS released FROM personal_data.holds h, personal_data.release_hold(h.id) WHERE h.reason = 'S1';
-- S2: not in REPEATABLE READ or SERIALIZABLE (the snapshot may predate a hold)
SET ROLE regress_sr_compliance;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT personal_data.erase_subject('carl@x');
ROLLBACK;
RESET ROLE;
-- S3: a table's trigger, called by an erasure, is enforced: the session's purpose
-- does not cover another table's labelled column, so its read is refused
CREATE TABLE sr_app.secrets (email text, secret text);
ALTER TABLE sr_app.secrets OWNER TO regress_sr_app;
INSERT INTO sr_app.secrets VALUES ('x@y', 'the secret');
SELECT personal_data.register_table('sr_app.secrets', 'email');
SELECT personal_data.label_column('sr_app.secrets', 'secret', ARRAY['sr_contract']);
INSERT INTO sr_app.orders VALUES (4, 'bo@example.com', 'kettle');
SET ROLE regress_sr_app;
CREATE TABLE sr_app.loot (v text);
CREATE OR REPLACE FUNCTION sr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN INSERT INTO sr_app.loot SELECT secret FROM sr_app.secrets; END $$;
RESET ROLE;
SET ROLE regress_sr_compliance;
SELECT personal_data.erase_subject('bo@example.com');
RESET ROLE;
SELECT count(*) AS looted FROM sr_app.loot;
-- S4: nor can it leave an open cursor over it to the caller
SET ROLE regress_sr_app;
CREATE OR REPLACE FUNCTION sr_app.helper() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c refcursor := 'sr_leak'; BEGIN OPEN c FOR SELECT email, secret FROM sr_app.secrets; END $$;
RESET ROLE;
SET ROLE regress_sr_compliance;
BEGIN;
SELECT personal_data.erase_subject('bo@example.com');
ROLLBACK;
RESET ROLE;
SET ROLE regress_sr_app;
CREATE OR REPLACE FUNCTION sr_app.helper() RETURNS void LANGUAGE plpgsql AS 'BEGIN NULL; END';
RESET ROLE;
-- S5: an inheritance child registered apart is read on its own, its entrusted data left out
SELECT personal_data.define_purpose('sr_entrusted', 'entrusted');
CREATE TABLE sr_app.par (s text, v text);
CREATE TABLE sr_app.chi () INHERITS (sr_app.par);
INSERT INTO sr_app.par VALUES ('i@x', 'parent');
INSERT INTO sr_app.chi VALUES ('i@x', 'child');
SELECT personal_data.register_table('sr_app.par', 's');
SELECT personal_data.register_table('sr_app.chi', 's');
SELECT personal_data.label_column('sr_app.par', 'v', ARRAY['sr_contract']);
SELECT personal_data.label_column('sr_app.chi', 'v', ARRAY['sr_entrusted']);
SET ROLE regress_sr_compliance;
SELECT personal_data.subject_data('i@x')->'data';
BEGIN;
SELECT personal_data.erase_subject('i@x');
ROLLBACK;
RESET ROLE;
-- S6: a recipient may not use them (it reads subjects' rows only as the policy lets it)
CREATE ROLE regress_sr_broker LOGIN IN ROLE regress_sr_compliance;
SELECT personal_data.register_recipient('regress_sr_broker', 'third_party', 'Broker Inc', 'US');
SET ROLE regress_sr_broker;
SELECT personal_data.subject_data('i@x');
SELECT personal_data.erase_subject('i@x');
RESET ROLE;
SELECT personal_data.unregister_recipient('regress_sr_broker');
DROP ROLE regress_sr_broker;
-- S7: the access log records each erasure as its DELETE, with its rows
SELECT personal_data.audit_flush() IS NOT NULL AS flushed;
SELECT coalesce(max(id), 0) AS log_start FROM personal_data.access_log \gset
SET ROLE regress_sr_compliance;
SELECT personal_data.erase_subject('i@x', NULL, 'delete');
RESET ROLE;
SELECT personal_data.audit_flush() IS NOT NULL AS flushed;
SELECT relation, command, rows FROM personal_data.access_log
 WHERE id > :log_start AND relation LIKE 'sr_app.%' ORDER BY id;
-- S8: 51 tables of one owner
DO $$ BEGIN FOR i IN 1 .. 51 LOOP
	EXECUTE format('CREATE TABLE sr_app.many%s (s text, v text)', i);
	EXECUTE format('INSERT INTO sr_app.many%s VALUES (''m@x'', ''v%s'')', i, i);
	PERFORM personal_data.register_table(format('sr_app.many%s', i)::regclass, 's');
END LOOP; END $$;
SET ROLE regress_sr_compliance;
SELECT (SELECT count(*) FROM jsonb_object_keys(personal_data.erase_subject('m@x', NULL, 'delete'))) AS tables_erased;
RESET ROLE;
-- S13: a subject column of a reg* type: a subject that names nothing has no rows there
CREATE TABLE sr_app.by_role (r regrole, v text);
INSERT INTO sr_app.by_role VALUES ('regress_sr_app', 'x');
SELECT personal_data.register_table('sr_app.by_role', 'r');
SELECT personal_data.label_column('sr_app.by_role', 'v', ARRAY['sr_contract']);
SET ROLE regress_sr_compliance;
SELECT personal_data.subject_data('nobody@x')->'data';
RESET ROLE;

DROP SCHEMA sr_app CASCADE;
DROP COLLATION sr_ci;
REVOKE ALL ON FUNCTION personal_data.subject_data(text, bigint),
	personal_data.erase_subject(text, bigint, text) FROM regress_sr_compliance;
DROP ROLE regress_sr_app;
DROP ROLE regress_sr_compliance;
SELECT personal_data.drop_purpose('sr_entrusted');
