--
-- 030_privileges: who may change and read the policy.
--
-- An application role (regress_app) and a table owner (regress_owner) that
-- are not superusers may read the non-secret parts of the policy and ask
-- how it sees them, but change nothing: no policy function, no catalog
-- write, no security label, no protective setting.  A DBA role and a
-- compliance role are then given what README.md shows, and can use the API.
--
-- Each failing statement is followed by \echo :SQLSTATE.
--
\set SHOW_CONTEXT never
SET intervalstyle = postgres;

CREATE ROLE regress_app;
CREATE ROLE regress_owner;
CREATE ROLE regress_dba;
CREATE ROLE regress_compliance;
CREATE ROLE regress_partner;

SELECT personal_data.define_purpose('billing', 'customer');
SELECT personal_data.define_purpose('support', 'customer');
SELECT personal_data.assign_manager('Sales', 'regress_dba', 'sales@example.com');
SELECT personal_data.grant_purpose('regress_app', 'billing');
SELECT personal_data.register_recipient('regress_partner', 'third_party', 'Partner KK', 'JP');
SELECT personal_data.record_consent('cust-1', 'billing') > 0 AS recorded;
SELECT personal_data.record_legal_basis('regress_partner', 'law', 'Audit Act') > 0 AS recorded;
SELECT personal_data.place_hold('cust-1', 'litigation') > 0 AS placed;

-- a table the owner role owns (public's CREATE is not granted to PUBLIC)
CREATE TABLE regress_owned (id integer, email text, joined date);
ALTER TABLE regress_owned OWNER TO regress_owner;
SELECT personal_data.register_table('regress_owned', 'id', 'joined');
SELECT personal_data.label_column('regress_owned', 'email', ARRAY['billing']);
CREATE TABLE regress_owned_too (id integer, email text);
ALTER TABLE regress_owned_too OWNER TO regress_owner;

------------------------------------------------------------------------------
-- The API as installed: definer functions pin their search_path, and PUBLIC
-- may execute only the read-only functions.
------------------------------------------------------------------------------

-- SECURITY DEFINER functions without search_path = pg_catalog, pg_temp:
SELECT p.oid::regprocedure AS function, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'personal_data'::regnamespace
   AND p.prosecdef
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY p.proname;
-- the SECURITY DEFINER functions: the policy API and inventory()
SELECT p.oid::regprocedure AS security_definer_function
  FROM pg_proc p
 WHERE p.pronamespace = 'personal_data'::regnamespace AND p.prosecdef
 ORDER BY p.proname;
-- functions PUBLIC may execute (the _-prefixed ones because the label views,
-- which everyone may read, call them)
SELECT p.oid::regprocedure AS public_function, p.prosecdef, p.provolatile
  FROM pg_proc p
 WHERE p.pronamespace = 'personal_data'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.proname;
-- relations, with what PUBLIC may do to them
SELECT c.relname, c.relkind,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
         AS public_write
  FROM pg_class c
 WHERE c.relnamespace = 'personal_data'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;
SELECT c.relname, has_sequence_privilege('public', c.oid, 'USAGE, SELECT, UPDATE') AS public_any
  FROM pg_class c
 WHERE c.relnamespace = 'personal_data'::regnamespace AND c.relkind = 'S'
 ORDER BY c.relname;
SELECT has_schema_privilege('public', 'personal_data', 'USAGE') AS public_usage,
       has_schema_privilege('public', 'personal_data', 'CREATE') AS public_create;

------------------------------------------------------------------------------
-- An application role
------------------------------------------------------------------------------

SET ROLE regress_app;

-- no administrative function
SELECT personal_data.define_purpose('newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.set_purpose_retention('billing', interval '1 year'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.drop_purpose('support'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.install_default_purposes(); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_table('regress_owned_too', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_table('regress_owned'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_owned', 'id', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_owned', 'email'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_app', 'support'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.revoke_purpose('regress_app', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.register_recipient('regress_app', 'entrustee', 'Me'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_recipient('regress_partner'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.assign_manager('Sales', 'regress_app', 'me@example.com'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_consent('cust-2', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.withdraw_consent('cust-1', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.record_legal_basis('regress_partner', 'law', 'Tax Act'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.place_hold('cust-2', 'none'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.release_hold(1); \echo SQLSTATE :SQLSTATE
SELECT * FROM personal_data.inventory(); \echo SQLSTATE :SQLSTATE
-- nor the internal helpers and the trigger function
SELECT personal_data._require(NULL::text, 'x'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_text('x', 'x'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_purpose('billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_recipient('regress_partner'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_future(NULL, 'x'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_positive(NULL, 'x'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._require_registered('regress_owned'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._policy_changed(); \echo SQLSTATE :SQLSTATE

-- no write to any catalog table
INSERT INTO personal_data.purposes (name, category) VALUES ('newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
UPDATE personal_data.purposes SET retention = NULL; \echo SQLSTATE :SQLSTATE
DELETE FROM personal_data.purposes; \echo SQLSTATE :SQLSTATE
TRUNCATE personal_data.purposes; \echo SQLSTATE :SQLSTATE
INSERT INTO personal_data.purpose_grants VALUES ('regress_app', 'support'); \echo SQLSTATE :SQLSTATE
DELETE FROM personal_data.purpose_grants; \echo SQLSTATE :SQLSTATE
INSERT INTO personal_data.recipients VALUES ('regress_app', 'entrustee', 'Me'); \echo SQLSTATE :SQLSTATE
DELETE FROM personal_data.recipients; \echo SQLSTATE :SQLSTATE
UPDATE personal_data.departments SET manager = 'regress_app'; \echo SQLSTATE :SQLSTATE
INSERT INTO personal_data.consents (subject, purpose) VALUES ('cust-2', 'billing'); \echo SQLSTATE :SQLSTATE
UPDATE personal_data.consents SET withdrawn_at = now(); \echo SQLSTATE :SQLSTATE
DELETE FROM personal_data.legal_bases; \echo SQLSTATE :SQLSTATE
UPDATE personal_data.holds SET released_at = now(); \echo SQLSTATE :SQLSTATE
TRUNCATE personal_data.holds; \echo SQLSTATE :SQLSTATE
SELECT nextval('personal_data.consents_id_seq'); \echo SQLSTATE :SQLSTATE
-- the views over the labels are not updatable by anyone
DELETE FROM personal_data.labelled_columns; \echo SQLSTATE :SQLSTATE
-- nor anything created in the schema, dropped or altered there
CREATE TABLE personal_data.regress_mine (x integer); \echo SQLSTATE :SQLSTATE
CREATE FUNCTION personal_data.format(text) RETURNS text LANGUAGE sql AS 'SELECT $1'; \echo SQLSTATE :SQLSTATE
DROP TABLE personal_data.holds; \echo SQLSTATE :SQLSTATE
ALTER TABLE personal_data.purposes DISABLE TRIGGER purposes_changed; \echo SQLSTATE :SQLSTATE
DROP FUNCTION personal_data.session_policy(); \echo SQLSTATE :SQLSTATE

-- no reading of evidence that names data subjects
SELECT count(*) FROM personal_data.consents; \echo SQLSTATE :SQLSTATE
SELECT count(*) FROM personal_data.legal_bases; \echo SQLSTATE :SQLSTATE
SELECT count(*) FROM personal_data.holds; \echo SQLSTATE :SQLSTATE

-- but the rest of the policy is not secret
SELECT name, category FROM personal_data.purposes ORDER BY name;
SELECT role, kind, organization FROM personal_data.recipients;
SELECT role, purpose FROM personal_data.purpose_grants;
SELECT department, manager, contact FROM personal_data.departments;
SELECT relation, subject_column, collected_at_column FROM personal_data.registered_tables;
SELECT relation, column_name, purposes, on_denied FROM personal_data.labelled_columns;
SELECT personal_data.table_retention('regress_owned');
-- and the session may ask how the policy sees it
SELECT role_name, superuser, purpose, purpose_defined, purpose_granted, recipient_kind
  FROM personal_data.session_policy();
SELECT * FROM personal_data.column_access('regress_owned');
SELECT count(*) FROM personal_data.cache_stats();

-- no raw security label either (not the owner)
SECURITY LABEL FOR personal_data ON TABLE regress_owned_too IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_owned.email IS NULL; \echo SQLSTATE :SQLSTATE

------------------------------------------------------------------------------
-- Settings
------------------------------------------------------------------------------

-- the purpose is the application's to set, if well-formed
SET personal_data.purpose = 'billing';
SHOW personal_data.purpose;
SET personal_data.purpose = 'undefined_but_well_formed';
SHOW personal_data.purpose;
SET personal_data.purpose = '';
SET personal_data.purpose = 'Bad Name'; \echo SQLSTATE :SQLSTATE
SET personal_data.purpose = 'billing;support'; \echo SQLSTATE :SQLSTATE
SELECT set_config('personal_data.purpose', repeat('p', 64), false); \echo SQLSTATE :SQLSTATE
SHOW personal_data.purpose;
-- enforcement and the minors' age are the superuser's
SHOW personal_data.enforce;
SET personal_data.enforce = off; \echo SQLSTATE :SQLSTATE
BEGIN;
SET LOCAL personal_data.enforce = off; \echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
SELECT set_config('personal_data.enforce', 'off', true); \echo SQLSTATE :SQLSTATE
ROLLBACK;
SET personal_data.minor_age = 0; \echo SQLSTATE :SQLSTATE
SET personal_data.minor_age = 16; \echo SQLSTATE :SQLSTATE
SHOW personal_data.enforce;
SHOW personal_data.minor_age;
-- nor can a role set them for itself at login
ALTER ROLE regress_app SET personal_data.enforce = off; \echo SQLSTATE :SQLSTATE
-- the prefix is reserved: misspelt settings are errors, not placeholders
SET personal_data.enforced = off; \echo SQLSTATE :SQLSTATE
SET personal_data.purposes = 'billing'; \echo SQLSTATE :SQLSTATE

RESET ROLE;

-- a superuser may change them; a bad purpose is refused for ALTER ROLE too
SET personal_data.enforce = off;
SHOW personal_data.enforce;
RESET personal_data.enforce;
SET personal_data.minor_age = 18;
SHOW personal_data.minor_age;
SET personal_data.minor_age = -1; \echo SQLSTATE :SQLSTATE
SET personal_data.minor_age = 151; \echo SQLSTATE :SQLSTATE
RESET personal_data.minor_age;
ALTER ROLE regress_app SET personal_data.purpose = 'Bad Name'; \echo SQLSTATE :SQLSTATE
ALTER ROLE regress_app SET personal_data.purpose = 'billing';
SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = 'regress_app'::regrole;
ALTER ROLE regress_app RESET ALL;

------------------------------------------------------------------------------
-- A table owner that is not a superuser
------------------------------------------------------------------------------

SET ROLE regress_owner;
-- may not label its own tables, nor remove their labels
SECURITY LABEL FOR personal_data ON TABLE regress_owned_too IS 'subject=id'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_owned.id IS 'purposes=billing'; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON COLUMN regress_owned.email IS NULL; \echo SQLSTATE :SQLSTATE
SECURITY LABEL FOR personal_data ON TABLE regress_owned IS 'subject=email'; \echo SQLSTATE :SQLSTATE
-- (a malformed label is reported as such first, as sepgsql does)
SECURITY LABEL FOR personal_data ON TABLE regress_owned_too IS 'subject'; \echo SQLSTATE :SQLSTATE
-- nor use the functions
SELECT personal_data.register_table('regress_owned_too', 'id'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unlabel_column('regress_owned', 'email'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.unregister_table('regress_owned'); \echo SQLSTATE :SQLSTATE
RESET ROLE;
-- nothing changed
SELECT objname, label FROM pg_seclabels WHERE provider = 'personal_data' ORDER BY objname;

------------------------------------------------------------------------------
-- The grants README.md shows ("Security"): a DBA role that maintains the
-- policy, and a compliance role that reads all of it and records consents
-- and holds but changes no purposes, labels or grants.  Login roles get them
-- through membership.
------------------------------------------------------------------------------

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA personal_data TO regress_dba;
GRANT SELECT ON personal_data.consents, personal_data.legal_bases,
      personal_data.holds TO regress_dba;

GRANT SELECT ON ALL TABLES IN SCHEMA personal_data TO regress_compliance;
GRANT EXECUTE ON FUNCTION
      personal_data.inventory(),
      personal_data.record_consent(text, text, regrole, boolean, timestamptz, text),
      personal_data.withdraw_consent(text, text, regrole),
      personal_data.record_legal_basis(regrole, text, text, text, text, timestamptz),
      personal_data.place_hold(text, text, timestamptz),
      personal_data.release_hold(bigint)
   TO regress_compliance;

CREATE ROLE regress_alice IN ROLE regress_dba;
CREATE ROLE regress_bob IN ROLE regress_compliance;

SET ROLE regress_alice;
-- the whole API works for it, on tables it does not own
SELECT personal_data.install_default_purposes();
SELECT personal_data.define_purpose('newsletter', 'customer', retention => interval '1 year');
SELECT personal_data.set_purpose_retention('newsletter', interval '2 years');
SELECT personal_data.register_table('regress_owned_too', 'id');
SELECT personal_data.label_column('regress_owned_too', 'email', ARRAY['newsletter', 'billing'], 'null');
SELECT personal_data.label_column('regress_owned', 'id', ARRAY['support']);
SELECT personal_data.unlabel_column('regress_owned', 'id');
SELECT personal_data.grant_purpose('regress_app', 'newsletter');
SELECT personal_data.revoke_purpose('regress_app', 'billing');
SELECT personal_data.register_recipient('regress_owner', 'third_party', 'Owner Inc.', 'US');
SELECT personal_data.unregister_recipient('regress_owner');
SELECT personal_data.assign_manager('Marketing', 'regress_dba', 'marketing@example.com');
SELECT personal_data.record_consent('cust-3', 'newsletter', 'regress_partner') > 0 AS recorded;
SELECT personal_data.withdraw_consent('cust-3', 'newsletter');
SELECT personal_data.record_legal_basis('regress_partner', 'law', 'Court order 7') > 0 AS recorded;
SELECT personal_data.place_hold('cust-3', 'complaint') AS hold_id \gset
SELECT personal_data.release_hold(:hold_id);
SELECT subject, purpose, recipient, withdrawn_at IS NOT NULL AS withdrawn
  FROM personal_data.consents ORDER BY id;
SELECT relation, column_name, purposes, retention, department, manager
  FROM personal_data.inventory();
SELECT personal_data.unregister_table('regress_owned_too');
-- the errors it gets are the API's, not permission errors
SELECT personal_data.drop_purpose('billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.drop_purpose('newsletter'); \echo SQLSTATE :SQLSTATE
-- the internal helpers it was given too are harmless
SELECT personal_data._require_purpose('support');
SELECT personal_data._require_purpose('nonesuch'); \echo SQLSTATE :SQLSTATE
SELECT personal_data._policy_changed(); \echo SQLSTATE :SQLSTATE
-- and it still may not label tables directly, nor write the catalog
SECURITY LABEL FOR personal_data ON TABLE regress_owned_too IS 'subject=id'; \echo SQLSTATE :SQLSTATE
INSERT INTO personal_data.purposes (name, category) VALUES ('newsletter2', 'customer'); \echo SQLSTATE :SQLSTATE
DELETE FROM personal_data.consents; \echo SQLSTATE :SQLSTATE
RESET ROLE;

SET ROLE regress_bob;
SELECT personal_data.record_consent('cust-2', 'billing', 'regress_partner') > 0 AS recorded;
SELECT personal_data.withdraw_consent('cust-2', 'billing');
SELECT personal_data.record_legal_basis('regress_partner', 'vital_interest', 'Flood 2024',
                                        subject => 'cust-2') > 0 AS recorded;
SELECT personal_data.place_hold('cust-2', 'audit') AS hold_id \gset
SELECT personal_data.release_hold(:hold_id);
SELECT subject, purpose, recipient, withdrawn_at IS NOT NULL AS withdrawn
  FROM personal_data.consents ORDER BY id;
SELECT recipient, basis, reference, subject FROM personal_data.legal_bases ORDER BY id;
SELECT subject, reason, released_at IS NOT NULL AS released FROM personal_data.holds ORDER BY id;
SELECT relation, column_name FROM personal_data.inventory();
SELECT count(*) FROM personal_data.registered_tables;
-- but not the policy functions
SELECT personal_data.define_purpose('newsletter', 'customer'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.grant_purpose('regress_bob', 'billing'); \echo SQLSTATE :SQLSTATE
SELECT personal_data.label_column('regress_owned', 'id', ARRAY['billing']); \echo SQLSTATE :SQLSTATE
-- and it only reads the evidence
DELETE FROM personal_data.consents; \echo SQLSTATE :SQLSTATE
UPDATE personal_data.holds SET released_at = NULL; \echo SQLSTATE :SQLSTATE
RESET ROLE;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------

SELECT personal_data.unregister_table('regress_owned');
SELECT personal_data.unregister_recipient('regress_partner');
TRUNCATE personal_data.consents, personal_data.legal_bases, personal_data.holds
	RESTART IDENTITY;
DELETE FROM personal_data.departments;
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP TABLE regress_owned, regress_owned_too;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personal_data FROM regress_dba, regress_compliance;
REVOKE ALL ON ALL TABLES IN SCHEMA personal_data FROM regress_dba, regress_compliance;
DROP ROLE regress_alice, regress_bob, regress_app, regress_owner, regress_dba,
	regress_compliance, regress_partner;
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.departments) AS departments,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM personal_data.legal_bases) AS legal_bases,
       (SELECT count(*) FROM personal_data.holds) AS holds,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;
