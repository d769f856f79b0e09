--
-- 040_session: how the policy sees a session -- session_policy() and
-- column_access() -- for each kind of role and each kind of purpose.
--
-- The role that counts is the session's (the login role, or the one chosen
-- with SET ROLE), whatever SECURITY DEFINER functions it passes through.
-- Grants and recipient kinds follow role membership as privileges do.
--
\set SHOW_CONTEXT never

-- regress_s_group holds billing; regress_s_member inherits from it,
-- regress_s_noinherit is a member that does not inherit.
CREATE ROLE regress_s_nogrant;
CREATE ROLE regress_s_direct;
CREATE ROLE regress_s_group;
CREATE ROLE regress_s_member IN ROLE regress_s_group;
CREATE ROLE regress_s_noinherit NOINHERIT IN ROLE regress_s_group;
-- recipients, their staff, and a role acting for both
CREATE ROLE regress_s_courier;
CREATE ROLE regress_s_partner;
CREATE ROLE regress_s_partner_staff IN ROLE regress_s_partner;
CREATE ROLE regress_s_partner_noinherit NOINHERIT IN ROLE regress_s_partner;
CREATE ROLE regress_s_both IN ROLE regress_s_courier, regress_s_partner;
CREATE ROLE regress_s_super SUPERUSER;

SELECT personal_data.define_purpose('billing', 'customer');
SELECT personal_data.define_purpose('support', 'customer');
SELECT personal_data.define_purpose('marketing', 'customer');
SELECT personal_data.grant_purpose('regress_s_direct', 'support');
SELECT personal_data.grant_purpose('regress_s_group', 'billing');
SELECT personal_data.grant_purpose('regress_s_courier', 'billing');
SELECT personal_data.grant_purpose('regress_s_partner', 'billing');
SELECT personal_data.grant_purpose('regress_s_partner', 'support');

CREATE TABLE regress_accounts (
	id integer,
	email text,
	phone text,
	note text,
	amount numeric
);
SELECT personal_data.register_table('regress_accounts', 'id');
SELECT personal_data.label_column('regress_accounts', 'email', ARRAY['billing']);
SELECT personal_data.label_column('regress_accounts', 'phone', ARRAY['billing', 'support'], 'null');
SELECT personal_data.label_column('regress_accounts', 'note', ARRAY['support', 'marketing']);

-- The full output of both functions, once.
SELECT * FROM personal_data.session_policy();
SELECT * FROM personal_data.column_access('regress_accounts') ORDER BY column_name;
-- an unregistered table has no labelled columns
CREATE TABLE regress_plain (id integer, email text);
SELECT * FROM personal_data.column_access('regress_plain');

-- What each session sees is collected here (every role may add to it) and
-- shown at the end: the session_policy() row, and the columns column_access()
-- allows, in column order.
CREATE TEMP TABLE seen (
	step serial,
	role_name name,
	superuser boolean,
	purpose text,
	purpose_defined boolean,
	purpose_granted boolean,
	recipient_kind text,
	organization text,
	country text,
	allowed_columns text
);
GRANT INSERT ON seen TO PUBLIC;
GRANT USAGE ON SEQUENCE seen_step_seq TO PUBLIC;
CREATE TEMP VIEW session_now AS
SELECT p.*,
       (SELECT coalesce(string_agg(a.column_name, ',' ORDER BY a.column_name), '-')
          FROM personal_data.column_access('regress_accounts') a
         WHERE a.allowed) AS allowed_columns
  FROM personal_data.session_policy() p;
GRANT SELECT ON session_now TO PUBLIC;

-- Each role with no purpose, an undefined one, and each defined one.
\set look 'INSERT INTO seen (role_name, superuser, purpose, purpose_defined, purpose_granted, recipient_kind, organization, country, allowed_columns) SELECT * FROM session_now'
\set purposes 'SET personal_data.purpose = \'\'; :look; SET personal_data.purpose = \'nonesuch\'; :look; SET personal_data.purpose = \'billing\'; :look; SET personal_data.purpose = \'support\'; :look; SET personal_data.purpose = \'marketing\'; :look; RESET personal_data.purpose;'

-- a superuser: every column, whatever the purpose, and never a recipient
-- (first while no recipient is registered, then while some are).  Having
-- the privileges of every role, it counts as granted any purpose some role
-- holds (billing, support), but not one nobody holds (marketing).
:purposes
SELECT personal_data.register_recipient('regress_s_courier', 'entrustee', 'Courier GmbH', 'DE');
SELECT personal_data.register_recipient('regress_s_partner', 'third_party', 'Partner KK', 'JP');
:purposes
SET ROLE regress_s_super;
:purposes
RESET ROLE;
-- a role without any grant
SET ROLE regress_s_nogrant;
:purposes
RESET ROLE;
-- a role granted support directly
SET ROLE regress_s_direct;
:purposes
RESET ROLE;
-- the granted group itself, an inheriting member, a member that does not
-- inherit (it has the group's purposes only after SET ROLE to the group)
SET ROLE regress_s_group;
:purposes
RESET ROLE;
SET ROLE regress_s_member;
:purposes
RESET ROLE;
SET ROLE regress_s_noinherit;
:purposes
SET ROLE regress_s_group;
SET personal_data.purpose = 'billing';
:look;
RESET personal_data.purpose;
RESET ROLE;
-- an entrustee, granted billing
SET ROLE regress_s_courier;
:purposes
RESET ROLE;
-- a third party, granted billing and support
SET ROLE regress_s_partner;
:purposes
RESET ROLE;
-- a member of the third party acts as the third party; a member that does
-- not inherit is neither the third party nor granted its purposes
SET ROLE regress_s_partner_staff;
:purposes
RESET ROLE;
SET ROLE regress_s_partner_noinherit;
:purposes
RESET ROLE;
-- a member of an entrustee and a third party acts as the third party
SET ROLE regress_s_both;
:purposes
RESET ROLE;

SELECT role_name, superuser AS su, purpose, purpose_defined AS defined,
       purpose_granted AS granted, recipient_kind, organization, country,
       allowed_columns
  FROM seen ORDER BY step;

------------------------------------------------------------------------------
-- The session's role counts, not the current user
------------------------------------------------------------------------------

-- A SECURITY DEFINER function owned by a superuser reports its caller's
-- session, not its owner.
CREATE FUNCTION regress_definer_view()
RETURNS TABLE (role_name name, superuser boolean, purpose_granted boolean,
               recipient_kind text, allowed_columns text)
LANGUAGE sql SECURITY DEFINER
AS $$
	SELECT p.role_name, p.superuser, p.purpose_granted, p.recipient_kind,
	       (SELECT string_agg(a.column_name, ',' ORDER BY a.column_name)
	          FROM personal_data.column_access('regress_accounts') a
	         WHERE a.allowed)
	  FROM personal_data.session_policy() p
$$;
-- ... and one owned by a role granted billing, to a caller who is not
CREATE FUNCTION regress_group_definer_view()
RETURNS TABLE (role_name name, purpose_granted boolean, allowed_columns text)
LANGUAGE sql SECURITY DEFINER
AS $$
	SELECT p.role_name, p.purpose_granted,
	       (SELECT string_agg(a.column_name, ',' ORDER BY a.column_name)
	          FROM personal_data.column_access('regress_accounts') a
	         WHERE a.allowed)
	  FROM personal_data.session_policy() p
$$;
ALTER FUNCTION regress_group_definer_view() OWNER TO regress_s_group;
SET personal_data.purpose = 'billing';
SET ROLE regress_s_nogrant;
SELECT current_user, * FROM regress_definer_view();
SELECT current_user, * FROM regress_group_definer_view();
RESET ROLE;
SET ROLE regress_s_partner_staff;
SELECT * FROM regress_definer_view();
RESET ROLE;
-- the same functions called by the superuser session
SELECT * FROM regress_definer_view();
RESET personal_data.purpose;

------------------------------------------------------------------------------
-- Changes are seen at once, and a purpose can be set per transaction
------------------------------------------------------------------------------

SET ROLE regress_s_member;
SET personal_data.purpose = 'billing';
SELECT purpose_granted FROM personal_data.session_policy();
RESET ROLE;
SELECT personal_data.revoke_purpose('regress_s_group', 'billing');
SET ROLE regress_s_member;
SELECT purpose_granted FROM personal_data.session_policy();
SELECT column_name, allowed FROM personal_data.column_access('regress_accounts') ORDER BY column_name;
RESET ROLE;
SELECT personal_data.grant_purpose('regress_s_group', 'billing');
SELECT personal_data.label_column('regress_accounts', 'note', ARRAY['billing']);
SET ROLE regress_s_member;
SELECT purpose_granted FROM personal_data.session_policy();
SELECT column_name, allowed FROM personal_data.column_access('regress_accounts') ORDER BY column_name;
-- SET LOCAL lasts for the transaction (how applications behind a pooler
-- state their purpose)
BEGIN;
SET LOCAL personal_data.purpose = 'support';
SELECT purpose, purpose_granted FROM personal_data.session_policy();
COMMIT;
SELECT purpose, purpose_granted FROM personal_data.session_policy();
RESET personal_data.purpose;
RESET ROLE;
-- a recipient that is unregistered is internal again
SELECT personal_data.unregister_recipient('regress_s_partner');
SET ROLE regress_s_partner_staff;
SELECT role_name, recipient_kind, organization FROM personal_data.session_policy();
RESET ROLE;

------------------------------------------------------------------------------
-- Partitions follow their partitioned table's labels
------------------------------------------------------------------------------

-- a partition whose columns are numbered differently from its parent's
CREATE TABLE regress_events (id integer, detail text, secret text) PARTITION BY LIST (id);
CREATE TABLE regress_events_1 (secret text, filler integer, detail text, id integer);
ALTER TABLE regress_events_1 DROP COLUMN filler;
ALTER TABLE regress_events ATTACH PARTITION regress_events_1 FOR VALUES IN (1);
SELECT personal_data.register_table('regress_events', 'id');
SELECT personal_data.label_column('regress_events', 'detail', ARRAY['support']);
SELECT personal_data.label_column('regress_events', 'secret', ARRAY['billing'], 'null');
SET ROLE regress_s_direct;
SET personal_data.purpose = 'support';
SELECT * FROM personal_data.column_access('regress_events') ORDER BY column_name;
SELECT * FROM personal_data.column_access('regress_events_1') ORDER BY column_name;
RESET personal_data.purpose;
RESET ROLE;
-- a relabel of the parent reaches the partition
SELECT personal_data.label_column('regress_events', 'detail', ARRAY['marketing']);
SELECT * FROM personal_data.column_access('regress_events_1') ORDER BY column_name;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------

SELECT personal_data.unregister_table('regress_accounts');
SELECT personal_data.unregister_table('regress_events');
SELECT personal_data.unregister_recipient('regress_s_courier');
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP FUNCTION regress_definer_view(), regress_group_definer_view();
DROP VIEW session_now;
DROP TABLE seen;
DROP TABLE regress_accounts, regress_plain, regress_events;
DROP ROLE regress_s_nogrant, regress_s_direct, regress_s_member, regress_s_noinherit,
	regress_s_group, regress_s_partner_staff, regress_s_partner_noinherit,
	regress_s_both, regress_s_courier, regress_s_partner, regress_s_super;
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;
