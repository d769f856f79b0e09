/*
 * demo/tour.sql — a guided tour of the policy demo/schema.sql declared.
 *
 * Run by ./run-demo with psql -X -q, as the superuser postgres, in the demo
 * database; it can be run again there (\i demo/tour.sql after ./run-demo
 * --keep).  Each section starts with a heading and a few lines of
 * commentary, shows the policy through the extension's views and functions,
 * and ends as it started (connected as postgres, no role set, no purpose),
 * so that sections stand alone.  New sections go before "Coming next".
 */
\set ON_ERROR_STOP on
\pset footer off
\pset null '-'
SET client_min_messages = warning;

-- Formatting helpers for the tour (not part of the extension).
CREATE SCHEMA IF NOT EXISTS tour;
COMMENT ON SCHEMA tour IS 'Helpers of demo/tour.sql';

-- A list as lines of at most width characters, breaking after commas.
CREATE OR REPLACE FUNCTION tour.wrap(items text[], width integer DEFAULT 50)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	item text;
	line text := '';
	result text := '';
BEGIN
	FOREACH item IN ARRAY items LOOP
		IF line = '' THEN
			line := item;
		ELSIF length(line) + 2 + length(item) > width THEN
			result := result || line || E',\n';
			line := item;
		ELSE
			line := line || ', ' || item;
		END IF;
	END LOOP;
	RETURN result || line;
END
$$;

\echo
\echo '################################################################################'
\echo '#  personal_data tour: the privacy policy of Hoshizora Electric Co., Ltd.'
\echo '#  (a fictional company, with the Japanese privacy policy personal_data was'
\echo '#  built from: purposes in six categories, consent, entrustment, retention)'
\echo '################################################################################'
\echo
\echo 'The server preloads personal_data (shared_preload_libraries = personal_data);'
\echo 'demo/schema.sql ran CREATE EXTENSION personal_data and declared the policy'
\echo 'with the extension''s functions.  Its settings:'
\echo

SELECT name, setting, context, short_desc AS description
  FROM pg_settings
 WHERE name LIKE 'personal\_data.%'
 ORDER BY name;

\echo 'The policy is enforced on every query of every role but superusers'
\echo '(personal_data.enforce); section 10 shows it at work.'

-------------------------------------------------------------------------------
\echo
\echo '=== 1. Purposes of use ========================================================'
\echo 'The purposes the policy announces, in its six categories, loaded by'
\echo 'install_default_purposes().  Items 1-5 of the policy are disclosed personal'
\echo 'information; data entrusted by clients is undisclosed.  Retention was set'
\echo 'per purpose with set_purpose_retention(); client_contract has none: the'
\echo 'table of entrusted data sets its own.'
\echo

SELECT category, name AS purpose, disclosed, retention,
	   CASE WHEN length(description) > 34 THEN left(description, 32) || '..'
			ELSE description END AS description
  FROM personal_data.purposes
 ORDER BY array_position(ARRAY['customer', 'supplier', 'shareholder', 'applicant',
							   'inquiry', 'entrusted'], category),
		  name;

-------------------------------------------------------------------------------
\echo
\echo '=== 2. Departments and their personal-information managers ==================='
\echo 'Measure 5 of the policy: a manager for each department that handles personal'
\echo 'information (assign_manager()).  Each registered table names its department.'
\echo

SELECT d.department, d.manager, d.contact,
	   string_agg(t.relation::text, ', ' ORDER BY t.relation::text) AS tables
  FROM personal_data.departments d
  LEFT JOIN personal_data.registered_tables t ON t.department = d.department
 GROUP BY d.department, d.manager, d.contact
 ORDER BY d.department;

-------------------------------------------------------------------------------
\echo
\echo '=== 3. Tables under the policy ==============================================='
\echo 'The view registered_tables: whose data each row is (subject), when it was'
\echo 'collected, where the birthdate is (to recognize minors).  table_retention():'
\echo 'the table''s own retention ("table"), else the longest retention among the'
\echo 'purposes of its columns.  on_expiry: expired rows are deleted, or anonymized'
\echo '(their labelled columns set to NULL).'
\echo

SELECT relation, subject_column AS subject, collected_at_column AS collected_at,
	   birthdate_column AS birthdate,
	   personal_data.table_retention(relation)
		 || CASE WHEN retention IS NOT NULL THEN ' (table)' ELSE '' END AS retention,
	   on_expiry
  FROM personal_data.registered_tables
 ORDER BY relation::text;

-------------------------------------------------------------------------------
\echo
\echo '=== 4. Inventory: every column holding personal data ========================='
\echo 'inventory(): one row per labelled column, with the purposes it was collected'
\echo 'for (label_column()).  on_denied: what a session whose purpose is not among'
\echo 'them will get -- an error, or NULL in place of the value.'
\echo

SELECT relation, column_name AS "column", on_denied, tour.wrap(purposes) AS purposes
  FROM personal_data.inventory();

\echo
\echo 'The inventory, table by table: whose data it is, whether it is disclosed'
\echo 'personal information, who answers for it, which outside recipients hold one'
\echo 'of its purposes.'
\echo

SELECT relation,
	   string_agg(DISTINCT c, ', ') AS category,
	   bool_or(disclosed) AS disclosed,
	   manager,
	   coalesce(string_agg(DISTINCT r, ', '), '-') AS recipients
  FROM personal_data.inventory()
  LEFT JOIN LATERAL unnest(categories) AS c ON true
  LEFT JOIN LATERAL unnest(recipients) AS r ON true
 GROUP BY relation, manager
 ORDER BY relation::text;

-------------------------------------------------------------------------------
\echo
\echo '=== 5. Roles and their purposes =============================================='
\echo 'grant_purpose(): the purposes each role may process data for (members of a'
\echo 'role have its grants).  A session states its purpose with the setting'
\echo 'personal_data.purpose; ALTER ROLE ... SET gives each application its usual'
\echo 'one.'
\echo

SELECT g.role,
	   (SELECT substr(c, length('personal_data.purpose=') + 1)
		  FROM pg_db_role_setting s, unnest(s.setconfig) AS c
		 WHERE s.setrole = g.role::oid AND s.setdatabase = 0
		   AND c LIKE 'personal\_data.purpose=%') AS "purpose at login",
	   tour.wrap(array_agg(g.purpose::text ORDER BY g.purpose), 46) AS "granted purposes"
  FROM personal_data.purpose_grants g
 GROUP BY g.role
 ORDER BY g.role::text;

-------------------------------------------------------------------------------
\echo
\echo '=== 6. Outside recipients ===================================================='
\echo 'register_recipient(): an entrustee processes data on the company''s behalf,'
\echo 'only for the purposes entrusted to it.  A third party receives a subject''s'
\echo 'data only with a basis: consent, law, or the protection of life or property.'
\echo 'The company is in Japan: a recipient elsewhere means a cross-border transfer.'
\echo

SELECT r.role, r.kind, r.organization, r.country,
	   r.country IS DISTINCT FROM 'JP' AS "cross-border",
	   tour.wrap(array_agg(g.purpose::text ORDER BY g.purpose), 24) AS purposes
  FROM personal_data.recipients r
  LEFT JOIN personal_data.purpose_grants g ON g.role = r.role
 GROUP BY r.role, r.kind, r.organization, r.country
 ORDER BY r.kind, r.role::text;

-------------------------------------------------------------------------------
\echo
\echo '=== 7. Consents, legal bases, holds =========================================='
\echo 'record_consent(), withdraw_consent(): per subject and purpose, and per'
\echo 'recipient when the consent is to a provision (no recipient: consent to the'
\echo 'purpose itself).  Withdrawn consents are kept as evidence; "guardian" marks'
\echo 'a consent given by a guardian (by_guardian).'
\echo

SELECT id, subject, purpose, coalesce(recipient::text, '-') AS recipient,
	   CASE WHEN withdrawn_at IS NOT NULL THEN 'withdrawn'
			WHEN valid_until <= now() THEN 'expired'
			WHEN valid_until IS NOT NULL THEN 'until ' || to_char(valid_until, 'YYYY-MM-DD')
			ELSE 'active' END
		 || CASE WHEN by_guardian THEN ', guardian' ELSE '' END AS status,
	   evidence
  FROM personal_data.consents
 ORDER BY subject, id;

\echo
\echo 'Customers younger than personal_data.minor_age need a guardian''s consent'
\echo '(the policy: "customers under 16"); the birthdate column says who they are.'
\echo

SELECT c.customer_id AS subject,
	   extract(year FROM age(c.birthdate))::integer AS age,
	   coalesce(string_agg(k.purpose, ', ' ORDER BY k.purpose)
				  FILTER (WHERE k.by_guardian), 'none') AS "guardian consented to"
  FROM customers c
  LEFT JOIN personal_data.consents k
	ON k.subject = c.customer_id AND k.withdrawn_at IS NULL
 WHERE age(c.birthdate) < make_interval(years => current_setting('personal_data.minor_age')::integer)
 GROUP BY c.customer_id, c.birthdate;

\echo
\echo 'record_legal_basis(): provision without consent, because law requires it'
\echo '(law) or to protect life or property (vital_interest).  A NULL subject or'
\echo 'purpose covers them all.'
\echo

SELECT id, recipient, basis, reference, coalesce(subject, 'all') AS subject,
	   coalesce(purpose, 'all') AS purpose,
	   to_char(valid_until, 'YYYY-MM-DD') AS "valid until"
  FROM personal_data.legal_bases
 ORDER BY id;

\echo
\echo 'place_hold(), release_hold(): a held subject''s data is neither purged nor'
\echo 'erased.'
\echo

SELECT id, subject, reason,
	   CASE WHEN released_at IS NOT NULL THEN 'released'
			WHEN until <= now() THEN 'lapsed'
			ELSE 'active' END AS status
  FROM personal_data.holds
 ORDER BY id;

\echo
\echo 'Put together: the customers whose data Pacific Partners (third party, US)'
\echo 'may receive today, for which purpose, on which basis -- and no others:'
\echo

SELECT c.customer_id AS subject, b.purpose, b.basis
  FROM customers c
  JOIN (SELECT k.subject, k.purpose, 'consent ' || k.id AS basis
		  FROM personal_data.consents k
		 WHERE k.recipient = 'pacific_partners'::regrole
		   AND k.withdrawn_at IS NULL
		   AND (k.valid_until IS NULL OR k.valid_until > now())
		UNION ALL
		SELECT l.subject, l.purpose, l.basis || ' ' || l.id
		  FROM personal_data.legal_bases l
		 WHERE l.recipient = 'pacific_partners'::regrole
		   AND (l.valid_until IS NULL OR l.valid_until > now())) b
	ON b.subject IS NULL OR b.subject = c.customer_id
 ORDER BY 1, 2;

-------------------------------------------------------------------------------
\echo
\echo '=== 8. Retention, applied to today''s rows ===================================='
\echo 'A row expires when its collected_at plus the table''s retention has passed,'
\echo 'unless its subject is on hold.  Purging expired rows will be the job of a'
\echo 'background worker, which is not built yet: this only counts them.'
\echo

-- One SELECT per registered table, glued with UNION ALL and run by \gexec.
SELECT 'SELECT * FROM (' || string_agg(format(
		 $q$SELECT %L::regclass AS relation, %L::interval AS retention, %L AS on_expiry,
				  count(*) AS "rows",
				  count(*) FILTER (WHERE expired AND NOT held) AS expired,
				  count(*) FILTER (WHERE expired AND held) AS "expired but held"
			 FROM (SELECT t.%I + %L::interval < now() AS expired,
						  EXISTS (SELECT FROM personal_data.holds h
								   WHERE h.subject = t.%I::text
									 AND h.released_at IS NULL
									 AND (h.until IS NULL OR h.until > now())) AS held
					 FROM %s t) AS r$q$,
		 relation, personal_data.table_retention(relation), on_expiry,
		 collected_at_column, personal_data.table_retention(relation),
		 subject_column, relation),
	   E'\nUNION ALL\n') || E') AS u\nORDER BY relation::text'
  FROM personal_data.registered_tables
 WHERE collected_at_column IS NOT NULL
\gexec

-------------------------------------------------------------------------------
\echo
\echo '=== 9. What a session may use ================================================'
\echo 'Whose session it is and why it runs decide which labelled columns it may use:'
\echo 'the purpose must be defined, granted to the session''s role, and listed by the'
\echo 'column.  session_policy() and column_access() show the verdict of the policy'
\echo 'cache -- the verdict queries get (section 10).'
\echo
\echo 'Logging in as crm_app applies its usual purpose (ALTER ROLE ... SET):'
\echo '  \\connect - crm_app'
\echo '  SELECT * FROM personal_data.session_policy();'
\echo

\connect - crm_app
\x on
SELECT * FROM personal_data.session_policy();
\x off

\echo '  SELECT column_name, on_denied, allowed'
\echo '    FROM personal_data.column_access(''customers'');'
\echo

SELECT column_name, on_denied, allowed
  FROM personal_data.column_access('customers');

\echo
\echo 'The same application, switching purpose to deliver an order:'
\echo '  SET personal_data.purpose = ''product_delivery'';'
\echo

SET personal_data.purpose = 'product_delivery';
SELECT column_name, on_denied, allowed
  FROM personal_data.column_access('customers');

\echo
\echo 'A purpose the role does not hold opens nothing, whatever the labels say:'
\echo '  SET personal_data.purpose = ''product_introduction'';'
\echo

SET personal_data.purpose = 'product_introduction';
SELECT role_name, purpose, purpose_defined, purpose_granted
  FROM personal_data.session_policy();
SELECT column_name, on_denied, allowed
  FROM personal_data.column_access('customers');

\connect - postgres
SET client_min_messages = warning;

\echo
\echo 'SET ROLE brings the role''s grants and recipient status, but not its login'
\echo 'settings: the purpose is set explicitly.  The entrustee, delivering:'
\echo '  SET ROLE swift_delivery;'
\echo '  SET personal_data.purpose = ''product_delivery'';'
\echo '  SELECT * FROM personal_data.session_policy();'
\echo

SET ROLE swift_delivery;
SET personal_data.purpose = 'product_delivery';
\x on
SELECT * FROM personal_data.session_policy();
\x off
RESET personal_data.purpose;
RESET ROLE;

\echo
\echo 'Who may use which column of customers, role by role and purpose by purpose'
\echo '(yes: may use it; NULL: will read as NULL; ERROR: will be refused):'
\echo

-- Each row is taken under SET ROLE and SET personal_data.purpose, and kept
-- in a temporary table the roles may insert into.
CREATE TEMPORARY TABLE access_check (
	scenario serial,
	role_name name,
	purpose text,
	column_name name,
	verdict text
);
GRANT INSERT ON access_check TO PUBLIC;
GRANT USAGE ON SEQUENCE access_check_scenario_seq TO PUBLIC;
\set check_access 'INSERT INTO pg_temp.access_check (role_name, purpose, column_name, verdict) SELECT current_user, current_setting(''personal_data.purpose''), column_name, CASE WHEN allowed THEN ''yes'' WHEN on_denied = ''null'' THEN ''NULL'' ELSE ''ERROR'' END FROM personal_data.column_access(''customers'');'

SET ROLE crm_app;          SET personal_data.purpose = 'customer_contract';         :check_access
SET ROLE crm_app;          SET personal_data.purpose = 'product_delivery';          :check_access
SET ROLE crm_app;          SET personal_data.purpose = 'maintenance_support';       :check_access
SET ROLE crm_app;          SET personal_data.purpose = '';                          :check_access
SET ROLE marketing_app;    SET personal_data.purpose = 'product_introduction';      :check_access
SET ROLE marketing_app;    SET personal_data.purpose = 'customer_contract';         :check_access
SET ROLE helpdesk_app;     SET personal_data.purpose = 'customer_inquiry_response'; :check_access
SET ROLE swift_delivery;   SET personal_data.purpose = 'product_delivery';          :check_access
SET ROLE swift_delivery;   SET personal_data.purpose = 'customer_contract';         :check_access
SET ROLE pacific_partners; SET personal_data.purpose = 'product_introduction';      :check_access
SET ROLE pacific_partners; SET personal_data.purpose = 'maintenance_support';       :check_access
SET ROLE procurement_app;  SET personal_data.purpose = 'supplier_payment';          :check_access
SET ROLE postgres;         SET personal_data.purpose = '';                          :check_access
RESET ROLE;
RESET personal_data.purpose;

SELECT format('%s, %s', role_name, coalesce(nullif(purpose, ''), 'no purpose'))
		 AS "role, purpose",
	   column_name, verdict
  FROM access_check
 ORDER BY scenario
\crosstabview

DROP TABLE access_check;

\echo 'postgres is a superuser: the policy never restricts superusers (their access'
\echo 'is to be audited instead).  pacific_partners, a third party, will moreover'
\echo 'see only the rows of subjects with a basis (section 7).'

-------------------------------------------------------------------------------
\echo
\echo '=== 10. The policy enforced on queries ======================================='
\echo 'Applications query normally; the database checks every query against the'
\echo 'session''s purpose.  crm_app logs in with its usual purpose, customer_contract:'
\echo '  SELECT customer_id, full_name, postal_address, phone, birthdate'
\echo '    FROM customers ORDER BY customer_id;'
\echo 'phone is not collected for contracts and is labelled on_denied => null: it'
\echo 'reads as NULL.  birthdate is.'
\echo

\connect - crm_app
SELECT customer_id, full_name, postal_address, phone, birthdate
  FROM customers ORDER BY customer_id;

\echo 'email serves newsletters and support, not contracts: the same application'
\echo 'asking for it is refused, with the reason (errors never show data):'
\echo '  SELECT customer_id, email FROM customers;'
\echo
\set ON_ERROR_STOP 0
SELECT customer_id, email FROM customers;
\set ON_ERROR_STOP 1
\echo
\echo 'Switching to a purpose crm_app holds and the column serves -- a support case:'
\echo '  SET personal_data.purpose = ''maintenance_support'';'
\echo '  SELECT customer_id, email, phone FROM customers ORDER BY customer_id;'
\echo
SET personal_data.purpose = 'maintenance_support';
SELECT customer_id, email, phone FROM customers ORDER BY customer_id;

\echo 'Views, functions, prepared statements, cursors and COPY are checked the same'
\echo 'way: the check is made when the statement runs, for the session''s own role'
\echo 'and purpose.'
\echo
\echo 'A third party sees only the rows of subjects with a basis.  Pacific Partners'
\echo 'introducing products (consent of C-1001 only: C-1002 withdrew his):'
\echo '  \\connect - pacific_partners'
\echo '  SELECT customer_id, email FROM customers ORDER BY customer_id;'
\echo

\connect - pacific_partners
SELECT customer_id, email FROM customers ORDER BY customer_id;

\echo 'Servicing heaters (C-1005 consented; C-1004 under the recall''s legal basis):'
\echo '  SET personal_data.purpose = ''maintenance_support'';'
\echo
SET personal_data.purpose = 'maintenance_support';
SELECT customer_id, full_name, phone FROM customers ORDER BY customer_id;

\echo 'Writes of a minor''s row need a guardian''s consent to the purpose.  crm_app'
\echo 'registering a 12-year-old for a contract without one is refused:'
\echo

\connect - crm_app
\set ON_ERROR_STOP 0
INSERT INTO customers (customer_id, full_name, birthdate)
VALUES ('C-1007', 'Yui Kato', current_date - interval '12 years');
\set ON_ERROR_STOP 1
\connect - postgres

\echo
\echo '=== 11. The audit: every access, and every provision, on record =============='
\echo 'Everything above was logged as it happened -- the refusals too, although'
\echo 'their statements aborted.  The access log (who, which columns, which purpose):'
\echo
SET personal_data.home_country = 'JP';
SELECT personal_data.audit_flush();
SELECT current_user_name AS "user", purpose, relation, columns, command, rows,
       allowed, left(reason, 60) AS reason
  FROM personal_data.access_log
 WHERE relation = 'public.customers'
 ORDER BY id;
\echo
\echo 'The record of provision: each customer whose data an outside organization'
\echo 'received, on which basis, and whether it left Japan:'
\echo
SELECT recipient, organization, country, subject, purpose, basis, basis_id, cross_border
  FROM personal_data.disclosure_log
 ORDER BY id;
\echo
\echo 'The logs are append-only, for superusers too, and hash-chained:'
\echo '  DELETE FROM personal_data.disclosure_log;'
\set ON_ERROR_STOP 0
DELETE FROM personal_data.disclosure_log;
\set ON_ERROR_STOP 1
\echo '  SELECT * FROM personal_data.verify_audit_log();'
SELECT * FROM personal_data.verify_audit_log();

\echo
\echo '=== 12. Retention: expired data leaves by itself ============================'
\echo 'A table keeps its rows as long as its purposes need: its own retention, or'
\echo 'the longest among the purposes of its columns.  Delivery scans are kept a'
\echo 'year (product_delivery) in yearly partitions:'
\echo
CREATE TABLE delivery_scans (
	parcel_id text NOT NULL,
	customer_id text NOT NULL,
	postal_address text,
	scanned_at timestamptz NOT NULL
) PARTITION BY RANGE (scanned_at);
SELECT format('CREATE TABLE delivery_scans_%s PARTITION OF delivery_scans FOR VALUES FROM (%L) TO (%L)',
			  extract(year FROM y), y, y + interval '1 year')
  FROM generate_series(date_trunc('year', now()) - interval '3 years',
					   date_trunc('year', now()), interval '1 year') AS y \gexec
INSERT INTO delivery_scans
SELECT 'P-' || n, 'C-100' || (1 + n % 6), 'depot ' || n % 3, now() - n * interval '9 days'
  FROM generate_series(1, 120) n;
\o /dev/null
SELECT personal_data.register_table('delivery_scans', 'customer_id',
	collected_at_column => 'scanned_at', department => 'sales');
SELECT personal_data.label_column('delivery_scans', 'postal_address', ARRAY['product_delivery']);
\o
SELECT tableoid::regclass AS partition, count(*) AS scans, min(scanned_at)::date AS oldest
  FROM delivery_scans GROUP BY 1 ORDER BY 1;
\echo 'Retention of every registered table, and what has expired now:'
\echo
SELECT t.relation, personal_data.table_retention(t.relation) AS retention, t.on_expiry
  FROM personal_data.registered_tables t ORDER BY 1;
\echo 'A warranty dispute with Ben Carter (C-1002): a legal hold keeps his data'
\echo 'whatever its age.'
SELECT personal_data.place_hold('C-1002', 'warranty dispute, case 2026-117') > 0 AS hold_placed;
\echo 'What a purge would do now (dry run; nothing changes):'
\echo '  SELECT * FROM personal_data.purge_expired(dry_run => true);'
\echo
SELECT * FROM personal_data.purge_expired(dry_run => true)
 WHERE purged + anonymized + held + blocked > 0;
\echo 'Nobody has to run it: the purge worker visits every database every'
\echo 'personal_data.purge_naptime (a minute by default; a second for this tour),'
\echo 'in batches of personal_data.purge_batch_size rows, a transaction each:'
\echo
ALTER SYSTEM SET personal_data.purge_naptime = '1s';
SELECT pg_reload_conf() AS "reloaded (naptime 1 s)";
DO $$
BEGIN
	-- wait (at most a minute) for the worker to finish the tables with expired rows
	FOR i IN 1 .. 600 LOOP
		EXIT WHEN (SELECT count(DISTINCT relation) FROM personal_data.purge_log
					WHERE NOT dry_run AND finished_at IS NOT NULL) >= 7;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
ALTER SYSTEM RESET personal_data.purge_naptime;
SELECT pg_reload_conf() AS "reloaded (naptime back to 1 min)";
SELECT relation, purged, anonymized, held, blocked, partitions_dropped, started_by
  FROM personal_data.purge_log WHERE NOT dry_run ORDER BY relation;
\echo 'The oldest year of delivery scans went whole (its partition lay wholly'
\echo 'before the cutoff: dropped, not deleted row by row).  The next one holds'
\echo 'scans of Ben Carter, under the hold: it stays, and lost its other rows one'
\echo 'by one, as last year''s partition lost its expired rows:'
\echo
SELECT tableoid::regclass AS partition, count(*) AS scans, min(scanned_at)::date AS oldest
  FROM delivery_scans GROUP BY 1 ORDER BY 1;
\echo 'Customers: Taichi Hayashi (13 years) is gone; Ben Carter (12 years) stays,'
\echo 'under the hold:'
\echo
SELECT customer_id, full_name, signed_up_at::date FROM customers ORDER BY customer_id;
\echo 'Expired inquiries are anonymized: the topic stays for statistics.'
\echo
SELECT topic, sender_email, full_name, message, received_at::date FROM inquiries ORDER BY inquiry_id;

\echo
\echo '=== 13. Data subjects'' requests, and the monthly report ======================'
\echo 'The privacy office (role privacy_office) answers requests with SQL functions.'
\echo 'Aiko Yamada (C-1001) asks for a copy of what the company holds on her; the'
\echo 'request is due in personal_data.response_period (30 days):'
\echo
SET ROLE privacy_office;
SELECT personal_data.open_request('C-1001', 'disclosure', 'a copy of my data') AS disclosure \gset
SELECT id, subject, kind, status, due_at - received_at AS due_in FROM personal_data.requests WHERE id = :disclosure;
\echo 'subject_data(): her rows in every registered table (the labelled columns of'
\echo 'disclosed purposes; data entrusted by clients is left out), her consents, the'
\echo 'record of provisions of her data to third parties, her requests.  Given the'
\echo 'request, the export is recorded against it:'
\echo
SELECT jsonb_pretty(personal_data.subject_data('C-1001', :disclosure) - 'generated_at') AS document;
SELECT personal_data.close_request(:disclosure, 'completed', 'sent by registered mail');
SELECT request_id, action, detail FROM personal_data.request_actions WHERE request_id = :disclosure;
\echo 'Kenji Mori (C-1004) has a new phone number.  The correction is an ordinary'
\echo 'UPDATE by crm_app under its purpose; personal_data.request_id ties it to the'
\echo 'request in the access log:'
\echo
SELECT personal_data.open_request('C-1004', 'correction', 'new phone +81 6 5555 0199') AS correction \gset
RESET ROLE;
SELECT coalesce(max(last_id), 0) AS log_start FROM personal_data.access_log_batches \gset
SET ROLE crm_app;
SET personal_data.purpose = 'maintenance_support';
SET personal_data.request_id = :correction;
UPDATE customers SET phone = '+81 6 5555 0199' WHERE customer_id = 'C-1004';
RESET personal_data.request_id;
RESET personal_data.purpose;
RESET ROLE;
SELECT personal_data.audit_flush() IS NOT NULL AS flushed;
SELECT command, relation, reason FROM personal_data.access_log
 WHERE id > :log_start AND (command = 'SET' AND reason LIKE 'personal_data.request_id%' OR relation = 'public.customers')
 ORDER BY id;
SET ROLE privacy_office;
SELECT personal_data.close_request(:correction, 'completed', 'phone number corrected');
\echo 'Maria Lopez (C-1005) asks to be deleted.  erase_subject() deletes or'
\echo 'anonymizes (each table''s on_expiry) her rows in every registered table, in'
\echo 'one transaction, and records what it did against the request:'
\echo
SELECT personal_data.open_request('C-1005', 'deletion', 'please delete my data') AS erasure \gset
SELECT personal_data.erase_subject('C-1005', :erasure);
SELECT personal_data.close_request(:erasure, 'completed', 'erased');
\echo 'Ben Carter (C-1002) is under a legal hold: his erasure is refused until the'
\echo 'hold is released.'
\echo
\set ON_ERROR_STOP 0
SELECT personal_data.erase_subject('C-1002');
\set ON_ERROR_STOP 1
\echo 'The monthly report: what is out of policy now, most severe first, and the'
\echo 'requests past their due date:'
\echo
SELECT severity, check_name, object, detail FROM personal_data.compliance_report();
SELECT id, subject, kind, due_at::date FROM personal_data.overdue_requests();
\echo 'discover(): unlabelled columns that look like personal data, with the call'
\echo 'that would label them:'
\echo
SELECT relation, column_name, looks_like, found_by, confidence FROM personal_data.discover('public');
RESET ROLE;

-------------------------------------------------------------------------------
-- New sections go here.
-------------------------------------------------------------------------------
