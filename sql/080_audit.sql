-- 080_audit: what the access log and the disclosure log record, exactly.
-- Entries are written by the audit writer after the statements: each check
-- first waits for them with audit_flush().  Earlier files left entries of
-- their own: only those after :start_id are looked at.
SET personal_data.home_country = 'JP';
CREATE TABLE au_people (id int PRIMARY KEY, subject text NOT NULL, name text,
						email text, note text);
INSERT INTO au_people VALUES (1, 's1', 'Ann', 'ann@x', 'n1'), (2, 's2', 'Bo', 'bo@x', 'n2'),
	(3, 's3', 'Cy', 'cy@x', 'n3');
SELECT personal_data.define_purpose('au_contract', 'customer');
SELECT personal_data.define_purpose('au_marketing', 'customer');
SELECT personal_data.register_table('au_people', 'subject');
SELECT personal_data.label_column('au_people', 'name', ARRAY['au_contract']);
SELECT personal_data.label_column('au_people', 'email', ARRAY['au_marketing']);
CREATE ROLE regress_au_app;
CREATE ROLE regress_au_partner;
CREATE ROLE regress_au_entrustee;
GRANT SELECT, UPDATE ON au_people TO regress_au_app, regress_au_partner, regress_au_entrustee;
SELECT personal_data.grant_purpose('regress_au_app', 'au_contract');
SELECT personal_data.grant_purpose('regress_au_partner', 'au_contract');
SELECT personal_data.grant_purpose('regress_au_entrustee', 'au_contract');
SELECT personal_data.register_recipient('regress_au_partner', 'third_party', 'AU Partner', 'US');
SELECT personal_data.register_recipient('regress_au_entrustee', 'entrustee', 'AU Mailing', 'JP');
SELECT personal_data.record_consent('s1', 'au_contract', 'regress_au_partner') > 0 AS recorded;
SELECT personal_data.record_consent('s3', 'au_contract', 'regress_au_partner') > 0 AS recorded;
SELECT personal_data.withdraw_consent('s3', 'au_contract', 'regress_au_partner');

CREATE FUNCTION au_plan_has(q text, node text) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF line LIKE '%' || node || '%' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$f$;

SELECT personal_data.audit_flush();
SELECT coalesce(max(id), 0) AS start_id
  FROM (SELECT max(id) AS id FROM personal_data.access_log
		UNION ALL SELECT max(id) FROM personal_data.disclosure_log) m \gset

-- an application: an allowed read, a refused one, a rolled-back read, a
-- statement failing midway, an update
SET ROLE regress_au_app;
SET personal_data.purpose = au_contract;
SELECT name FROM au_people WHERE id = 1;
SELECT email FROM au_people WHERE id = 1;
BEGIN;
SELECT count(*) FROM au_people;
ROLLBACK;
SELECT 1 / (id - 2) FROM au_people ORDER BY id;
UPDATE au_people SET name = 'Ann' WHERE id = 1;
RESET ROLE;

-- a third party (consent for s1 only; s3's withdrawn) and an entrustee
SET ROLE regress_au_partner;
SET personal_data.purpose = au_contract;
SELECT id, name FROM au_people ORDER BY id;
-- a parallel plan would run the filter's join in workers: while provisions
-- are recorded, a recipient's statements are planned without them (the
-- superuser's plan of the same query, below, has workers)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT au_plan_has('SELECT count(*) FROM au_people', 'Gather') AS partner_plan_has_workers;
SELECT count(*) FROM au_people;
RESET ROLE;
SELECT au_plan_has('SELECT count(*) FROM au_people', 'Gather') AS superuser_plan_has_workers;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SET ROLE regress_au_entrustee;
SET personal_data.purpose = au_contract;
SELECT name FROM au_people WHERE id = 2;
RESET ROLE;
-- the third party again, through an index-only scan of the subject index
-- under the consent join: only the subject provided is recorded
CREATE INDEX au_people_subject ON au_people (subject);
VACUUM au_people;
SET ROLE regress_au_partner;
SET personal_data.purpose = au_contract;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT au_plan_has('SELECT subject FROM au_people', 'Index Only Scan') AS index_only;
SELECT subject FROM au_people;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET ROLE;
RESET personal_data.purpose;

-- a superuser's read is logged too
SELECT note FROM au_people WHERE id = 3;
-- COPY TO by a superuser (pg_dump's way) runs no executor: logged as COPY
COPY au_people (id, name) TO STDOUT;
-- cursors: an entry each when closed, with the rows fetched, in any order
BEGIN;
DECLARE au_c1 CURSOR FOR SELECT name FROM au_people ORDER BY id;
DECLARE au_c2 CURSOR FOR SELECT email FROM au_people ORDER BY id;
FETCH 2 FROM au_c1;
FETCH 1 FROM au_c2;
CLOSE au_c1;
SELECT subject FROM au_people WHERE id = 2;
CLOSE au_c2;
COMMIT;

SELECT personal_data.audit_flush();
SELECT session_user_name = current_user AS session_user_ok, current_user_name, purpose, recipient,
	   relation, columns, command, rows, allowed, reason, query_id IS NOT NULL AS has_query_id
  FROM personal_data.access_log WHERE id > :start_id ORDER BY id;
SELECT recipient, organization, country, subject, relation, columns, purpose, basis,
	   basis_id = (SELECT id FROM personal_data.consents WHERE subject = 's1') AS consent_s1,
	   cross_border
  FROM personal_data.disclosure_log WHERE id > :start_id ORDER BY id;
SELECT ok, first_bad_id FROM personal_data.verify_audit_log();

-- append-only, for superusers too
UPDATE personal_data.access_log SET rows = 0 WHERE id > :start_id;
DELETE FROM personal_data.disclosure_log WHERE id > :start_id;
TRUNCATE personal_data.access_log_batches;
DELETE FROM personal_data.access_log_batches;
INSERT INTO personal_data.audit_checkpoints VALUES (1, '\x00', 1, now());
-- and closed to others
SET ROLE regress_au_app;
SELECT count(*) FROM personal_data.access_log;
SELECT * FROM personal_data.verify_audit_log();
RESET ROLE;

-- audit = denied logs refusals only; switching it (and enforce) is logged
SELECT personal_data.audit_flush();
SELECT max(id) AS mark_id FROM personal_data.access_log \gset
SET personal_data.audit = denied;
SELECT name FROM au_people WHERE id = 2;
SET ROLE regress_au_app;
SET personal_data.purpose = au_contract;
SELECT name FROM au_people WHERE id = 2;
SELECT email FROM au_people WHERE id = 2;
RESET ROLE;
RESET personal_data.purpose;
SET personal_data.audit = off;
SELECT name FROM au_people WHERE id = 2;
SET personal_data.enforce = off;
RESET personal_data.enforce;
RESET personal_data.audit;
SELECT name FROM au_people WHERE id = 3;
SELECT personal_data.audit_flush();
SELECT current_user_name, relation, columns, command, allowed, reason
  FROM personal_data.access_log WHERE id > :mark_id ORDER BY id;

-- the compliance views
SELECT current_user_name, purpose, recipient, relation, column_name, command, statements, rows, denied
  FROM personal_data.personal_column_use() WHERE relation = 'public.au_people';
SELECT recipient, subject, basis FROM personal_data.provisions(subject => 's1');
SELECT recipient, subject FROM personal_data.provisions(recipient => 'regress_au_entrustee');
SELECT recipient, country, subject FROM personal_data.cross_border_provisions
 WHERE relation = 'public.au_people';

-- clean up
SELECT personal_data.unregister_table('au_people');
DROP TABLE au_people;
DROP FUNCTION au_plan_has(text, text);
DELETE FROM personal_data.consents WHERE purpose = 'au_contract';
SELECT personal_data.unregister_recipient('regress_au_partner');
SELECT personal_data.unregister_recipient('regress_au_entrustee');
SELECT personal_data.revoke_purpose('regress_au_app', 'au_contract');
SELECT personal_data.revoke_purpose('regress_au_partner', 'au_contract');
SELECT personal_data.revoke_purpose('regress_au_entrustee', 'au_contract');
SELECT personal_data.drop_purpose('au_contract');
SELECT personal_data.drop_purpose('au_marketing');
DROP ROLE regress_au_app, regress_au_partner, regress_au_entrustee;
RESET personal_data.home_country;
