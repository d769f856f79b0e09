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

DROP SCHEMA sr_app CASCADE;
REVOKE ALL ON FUNCTION personal_data.subject_data(text, bigint),
	personal_data.erase_subject(text, bigint, text) FROM regress_sr_compliance;
DROP ROLE regress_sr_app;
DROP ROLE regress_sr_compliance;
