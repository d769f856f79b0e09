--
-- 060_third_party: what recipients see (DESIGN.md §3).  A third party sees
-- only the rows whose subject has a valid basis for (recipient, purpose):
-- a consent neither withdrawn nor expired -- a guardian's if the subject is
-- a minor -- or a legal basis; the other rows are filtered out silently.
-- An entrustee sees every row, but only columns of purposes entrusted to it.
--
-- Each failing statement is followed by \echo :SQLSTATE.
--
\set VERBOSITY default
\set SHOW_CONTEXT never

-- regress_t_partner: a third party granted billing, with a member;
-- regress_t_rival: another third party, granted billing too;
-- regress_t_courier: an entrustee granted billing; regress_t_courier_staff
-- is a member of it and of regress_t_internal, an internal role granted
-- support.
CREATE ROLE regress_t_partner;
CREATE ROLE regress_t_partner_staff IN ROLE regress_t_partner;
CREATE ROLE regress_t_rival;
CREATE ROLE regress_t_courier;
CREATE ROLE regress_t_internal;
CREATE ROLE regress_t_courier_staff IN ROLE regress_t_courier, regress_t_internal;

SELECT personal_data.define_purpose('billing', 'customer');
SELECT personal_data.define_purpose('support', 'customer');
SELECT personal_data.register_recipient('regress_t_partner', 'third_party', 'Partner KK', 'JP');
SELECT personal_data.register_recipient('regress_t_rival', 'third_party', 'Rival Inc', 'US');
SELECT personal_data.register_recipient('regress_t_courier', 'entrustee', 'Courier GmbH', 'DE');
SELECT personal_data.grant_purpose('regress_t_partner', 'billing');
SELECT personal_data.grant_purpose('regress_t_rival', 'billing');
SELECT personal_data.grant_purpose('regress_t_courier', 'billing');
SELECT personal_data.grant_purpose('regress_t_internal', 'support');

--   email   billing, support   error
--   phone   billing, support   null
--   ticket  support            null
-- A subject's name says what basis it has (or lacks); m-* are minors.
CREATE TABLE regress_clients (
	client text PRIMARY KEY,
	name text,
	email text,
	phone text,
	ticket text,
	born date
);
INSERT INTO regress_clients (client, name, email, phone, ticket, born)
SELECT client, initcap(replace(client, '-', ' ')), client || '@example.com',
       '090-' || lpad(n::text, 4, '0'), 'T-' || n,
       CASE WHEN client LIKE 'm-%' THEN current_date - interval '10 years'
            WHEN client = 's-born-unknown' THEN NULL
            ELSE current_date - interval '30 years' END
  FROM unnest(ARRAY[
	'm-guardian', 'm-self', 's-born-unknown', 's-consent', 's-expired',
	's-future', 's-guardian-adult', 's-law', 's-law-any-purpose',
	's-law-expired', 's-law-other-purpose', 's-law-rival', 's-no-recipient',
	's-none', 's-other-purpose', 's-rival', 's-withdrawn'])
	WITH ORDINALITY AS c (client, n)
 ORDER BY n;
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_clients
	TO regress_t_partner, regress_t_rival, regress_t_courier, regress_t_internal;
SELECT personal_data.register_table('regress_clients', 'client', birthdate_column => 'born');
SELECT personal_data.label_column('regress_clients', 'email', ARRAY['billing', 'support']);
SELECT personal_data.label_column('regress_clients', 'phone', ARRAY['billing', 'support'], 'null');
SELECT personal_data.label_column('regress_clients', 'ticket', ARRAY['support'], 'null');

-- The bases.  Consents to regress_t_partner for billing unless said otherwise.
SELECT count(*) AS recorded FROM (VALUES
	(personal_data.record_consent('s-consent', 'billing', 'regress_t_partner')),
	(personal_data.record_consent('s-future', 'billing', 'regress_t_partner',
	                              valid_until => now() + interval '1 year')),
	(personal_data.record_consent('s-withdrawn', 'billing', 'regress_t_partner')),
	-- to another recipient, to no recipient, for another purpose
	(personal_data.record_consent('s-rival', 'billing', 'regress_t_rival')),
	(personal_data.record_consent('s-no-recipient', 'billing')),
	(personal_data.record_consent('s-other-purpose', 'support', 'regress_t_partner')),
	-- minors: a guardian's consent counts, the minor's own does not
	(personal_data.record_consent('m-guardian', 'billing', 'regress_t_partner', by_guardian => true)),
	(personal_data.record_consent('m-self', 'billing', 'regress_t_partner')),
	-- a guardian's consent also counts once the subject is an adult
	(personal_data.record_consent('s-guardian-adult', 'billing', 'regress_t_partner', by_guardian => true)),
	-- an unknown birthdate is not a minor's
	(personal_data.record_consent('s-born-unknown', 'billing', 'regress_t_partner')),
	-- legal bases: for a subject and the purpose, for a subject and every
	-- purpose, for another purpose, for another recipient
	(personal_data.record_legal_basis('regress_t_partner', 'law', 'Tax Act art. 1',
	                                  subject => 's-law', purpose => 'billing')),
	(personal_data.record_legal_basis('regress_t_partner', 'vital_interest', 'Emergency',
	                                  subject => 's-law-any-purpose')),
	(personal_data.record_legal_basis('regress_t_partner', 'law', 'Tax Act art. 2',
	                                  subject => 's-law-other-purpose', purpose => 'support')),
	(personal_data.record_legal_basis('regress_t_rival', 'law', 'Tax Act art. 3',
	                                  subject => 's-law-rival'))) AS r (id);
SELECT personal_data.withdraw_consent('s-withdrawn', 'billing', 'regress_t_partner');
-- expired ones cannot be recorded through the functions
INSERT INTO personal_data.consents (subject, purpose, recipient, granted_at, valid_until)
VALUES ('s-expired', 'billing', 'regress_t_partner', now() - interval '2 years', now() - interval '1 day');
INSERT INTO personal_data.legal_bases (recipient, basis, reference, subject, purpose, valid_until, recorded_at)
VALUES ('regress_t_partner', 'law', 'Expired Act', 's-law-expired', 'billing',
        now() - interval '1 day', now() - interval '2 years');

------------------------------------------------------------------------------
-- A third party sees the rows with a basis, and nothing of the others
------------------------------------------------------------------------------

SET ROLE regress_t_partner;
SET personal_data.purpose = 'billing';
SELECT client, name, email, phone FROM regress_clients ORDER BY client;
SELECT count(*) FROM regress_clients;
SELECT count(*) FROM regress_clients WHERE client IN ('s-none', 's-rival', 's-withdrawn');
SELECT count(*) FROM regress_clients WHERE email LIKE 's-none%';
SELECT client FROM regress_clients WHERE client = 's-none';
SELECT to_jsonb(c) - 'born' FROM regress_clients c WHERE client = 's-law';
SELECT row_to_json(c) FROM regress_clients c WHERE client = 's-none';
-- the filter applies before the query's own conditions, however cheap: a
-- function that is not leakproof sees only the rows provided
RESET ROLE;
CREATE FUNCTION regress_peek(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'peek: %', $1;
	RETURN true;
END
$$;
SET ROLE regress_t_partner;
SELECT count(*) FROM regress_clients WHERE regress_peek(client);
-- aggregates, subqueries, joins and CTEs see the same rows
SELECT min(client), max(client), string_agg(left(client, 3), ',' ORDER BY client) FROM regress_clients;
SELECT count(*) FROM regress_clients a JOIN regress_clients b USING (client);
SELECT count(*) FROM (VALUES ('s-none'), ('s-consent')) AS v (client)
 WHERE EXISTS (SELECT FROM regress_clients c WHERE c.client = v.client);
WITH c AS (SELECT client FROM regress_clients) SELECT count(*) FROM c;
-- the plan: the bases are hashed once (the recipient's OID is masked)
RESET ROLE;
CREATE FUNCTION pg_temp.explain(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		RETURN NEXT replace(line,
		                    format('''%s''::oid', 'regress_t_partner'::regrole::oid),
		                    '''<regress_t_partner>''::oid');
	END LOOP;
END
$$;
SET ROLE regress_t_partner;
SELECT pg_temp.explain('SELECT client, email FROM regress_clients WHERE name LIKE ''S%''');
-- a purpose it is not granted: the rows for that purpose, no labelled column
SET personal_data.purpose = 'support';
SELECT client FROM regress_clients ORDER BY client;
SELECT client, email FROM regress_clients ORDER BY client;
\echo :SQLSTATE
SELECT client, phone FROM regress_clients ORDER BY client;
-- no purpose: only bases valid for every purpose
RESET personal_data.purpose;
SELECT client FROM regress_clients ORDER BY client;
RESET ROLE;

-- the rival sees its own subjects
SET ROLE regress_t_rival;
SET personal_data.purpose = 'billing';
SELECT client, email FROM regress_clients ORDER BY client;
RESET personal_data.purpose;
RESET ROLE;

-- a member of the third party is the third party
SET ROLE regress_t_partner_staff;
SET personal_data.purpose = 'billing';
SELECT role_name, recipient_kind, organization, purpose_granted FROM personal_data.session_policy();
SELECT client, email FROM regress_clients ORDER BY client;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Views, functions, prepared statements, COPY: the same rows
------------------------------------------------------------------------------

-- all owned by the superuser running this file
CREATE VIEW regress_client_emails AS SELECT client, email FROM regress_clients;
GRANT SELECT ON regress_client_emails TO PUBLIC;
-- inlined into the calling query by the planner
CREATE FUNCTION regress_all_clients() RETURNS SETOF regress_clients
LANGUAGE sql STABLE AS 'SELECT * FROM regress_clients';
CREATE FUNCTION regress_client_ids() RETURNS SETOF text
LANGUAGE sql STABLE AS 'SELECT client FROM regress_clients';
-- not inlined
CREATE FUNCTION regress_definer_clients() RETURNS SETOF regress_clients
LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT * FROM regress_clients';
CREATE FUNCTION regress_count_clients() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
	RETURN (SELECT count(*) FROM regress_clients);
END
$$;

SET ROLE regress_t_partner;
SET personal_data.purpose = 'billing';
SELECT * FROM regress_client_emails ORDER BY client;
SELECT client, email FROM regress_all_clients() ORDER BY client;
SELECT count(*) FROM regress_client_ids();
SELECT client, email FROM regress_definer_clients() ORDER BY client;
SELECT regress_count_clients();
-- COPY TO prints the visible rows only (in the order they were inserted)
COPY regress_clients (client, email, phone, ticket) TO STDOUT;
COPY regress_clients (client) TO STDOUT WITH (FORMAT csv, HEADER);
-- a prepared statement sees bases recorded and withdrawn after it was made
SET plan_cache_mode = force_generic_plan;
PREPARE visible AS SELECT string_agg(client, ',' ORDER BY client) FROM regress_clients;
EXECUTE visible;
RESET ROLE;
SELECT personal_data.record_consent('s-none', 'billing', 'regress_t_partner') > 0 AS recorded;
SET ROLE regress_t_partner;
EXECUTE visible;
RESET ROLE;
SELECT personal_data.withdraw_consent('s-none', 'billing');
SET ROLE regress_t_partner;
EXECUTE visible;
-- ... and the purpose of each execution
SET personal_data.purpose = 'support';
EXECUTE visible;
SET personal_data.purpose = 'billing';
EXECUTE visible;
DEALLOCATE visible;
RESET plan_cache_mode;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- A legal basis for every subject, then no longer
------------------------------------------------------------------------------

-- for another recipient, or another purpose: no effect
SELECT personal_data.record_legal_basis('regress_t_rival', 'law', 'Rival Act') > 0 AS recorded;
SELECT personal_data.record_legal_basis('regress_t_partner', 'law', 'Support Act',
                                        purpose => 'support') > 0 AS recorded;
SET ROLE regress_t_partner;
SET personal_data.purpose = 'billing';
SELECT count(*) FROM regress_clients;
RESET ROLE;
-- for the partner and billing: every row
SELECT personal_data.record_legal_basis('regress_t_partner', 'law', 'Court order 42',
                                        purpose => 'billing') AS blanket_id \gset
SET ROLE regress_t_partner;
SELECT count(*) FROM regress_clients;
SELECT client FROM regress_clients WHERE client LIKE 'm-%' OR client LIKE 's-n%' ORDER BY client;
RESET ROLE;
-- the court order expires
UPDATE personal_data.legal_bases SET valid_until = now() - interval '1 second'
 WHERE id = :blanket_id;
SET ROLE regress_t_partner;
SELECT count(*) FROM regress_clients;
SELECT client FROM regress_clients WHERE client LIKE 'm-%' OR client LIKE 's-n%' ORDER BY client;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Writes by a third party touch only the rows it sees
------------------------------------------------------------------------------

SET ROLE regress_t_partner;
SET personal_data.purpose = 'billing';
WITH u AS (UPDATE regress_clients SET name = upper(name) RETURNING client)
SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM regress_clients WHERE client IN ('s-consent', 's-none', 's-rival') RETURNING client)
SELECT string_agg(client, ',') AS deleted FROM d;
-- ON CONFLICT DO UPDATE could reach a row it does not see: refused, even
-- where the conflicting row is one it sees
INSERT INTO regress_clients (client, name) VALUES ('s-none', 'Mallory')
	ON CONFLICT (client) DO UPDATE SET name = excluded.name;
\echo :SQLSTATE
INSERT INTO regress_clients (client, name) VALUES ('s-law', 'Mallory')
	ON CONFLICT (client) DO UPDATE SET name = excluded.name;
\echo :SQLSTATE
RESET personal_data.purpose;
RESET ROLE;
-- what happened, as the superuser
SELECT client, name FROM regress_clients ORDER BY client;

------------------------------------------------------------------------------
-- An entrustee: every row, the columns of purposes entrusted to it
------------------------------------------------------------------------------

SET ROLE regress_t_courier;
SET personal_data.purpose = 'billing';
SELECT count(*) FROM regress_clients;
SELECT client, email, phone FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
SELECT client, ticket FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
SET personal_data.purpose = 'support';
SELECT client, email FROM regress_clients ORDER BY client;
\echo :SQLSTATE
RESET personal_data.purpose;
RESET ROLE;
-- a member of the entrustee and of an internal role granted support acts
-- as the entrustee: support is not entrusted to it, although it holds it
SET ROLE regress_t_courier_staff;
SET personal_data.purpose = 'support';
SELECT role_name, recipient_kind, organization, purpose_granted FROM personal_data.session_policy();
SELECT column_name, allowed FROM personal_data.column_access('regress_clients') ORDER BY column_name;
SELECT count(*) FROM regress_clients;
SELECT client, phone FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
SELECT client, email FROM regress_clients ORDER BY client;
\echo :SQLSTATE
SELECT client, ticket FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
-- under billing, entrusted: the entrustee's columns
SET personal_data.purpose = 'billing';
SELECT column_name, allowed FROM personal_data.column_access('regress_clients') ORDER BY column_name;
SELECT client, email, phone FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
RESET personal_data.purpose;
RESET ROLE;
-- regress_t_internal itself is an internal role and holds support
SET ROLE regress_t_internal;
SET personal_data.purpose = 'support';
SELECT client, ticket, phone FROM regress_clients WHERE client LIKE 's-n%' ORDER BY client;
RESET personal_data.purpose;
RESET ROLE;

------------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------------

DROP FUNCTION regress_peek(text), regress_all_clients(), regress_client_ids(), regress_definer_clients(), regress_count_clients();
DROP VIEW regress_client_emails;
SELECT personal_data.unregister_table('regress_clients');
DROP TABLE regress_clients;
DELETE FROM personal_data.consents;
DELETE FROM personal_data.legal_bases;
SELECT personal_data.revoke_purpose(role, purpose)
  FROM personal_data.purpose_grants ORDER BY role::text, purpose;
SELECT personal_data.unregister_recipient(role)
  FROM personal_data.recipients ORDER BY role::text;
SELECT count(*) AS dropped
  FROM (SELECT personal_data.drop_purpose(name)
          FROM personal_data.purposes ORDER BY name) AS d;
DROP ROLE regress_t_partner_staff, regress_t_partner, regress_t_rival,
	regress_t_courier_staff, regress_t_courier, regress_t_internal;
SELECT (SELECT count(*) FROM personal_data.purposes) AS purposes,
       (SELECT count(*) FROM personal_data.recipients) AS recipients,
       (SELECT count(*) FROM personal_data.purpose_grants) AS grants,
       (SELECT count(*) FROM personal_data.consents) AS consents,
       (SELECT count(*) FROM personal_data.legal_bases) AS legal_bases,
       (SELECT count(*) FROM pg_seclabels WHERE provider = 'personal_data') AS labels;
