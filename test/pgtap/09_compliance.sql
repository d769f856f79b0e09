-- 09_compliance.sql: compliance_report() and discover() (DESIGN.md §6): each
-- check fires on what is out of policy and is silent otherwise.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(16);

SELECT personal_data.define_purpose('cp_contract', 'customer', 'contracts', retention => '7 years');
SELECT personal_data.define_purpose('cp_forever', 'customer', 'no retention');
SELECT personal_data.assign_manager('cp_sales', current_user::regrole, 'privacy@example');
CREATE TABLE cp_customers (id text PRIMARY KEY, name text, born date, signed timestamptz, mail text);
INSERT INTO cp_customers VALUES ('K1', 'Yui', current_date - 3000, now() - interval '9 years', 'yui@example.jp'),
	('A1', 'Ann', '1980-01-01', now() - interval '9 years', 'ann@example.jp');
SELECT personal_data.register_table('cp_customers', 'id', collected_at_column => 'signed',
	birthdate_column => 'born', department => 'cp_sales');
SELECT personal_data.label_column('cp_customers', 'name', ARRAY['cp_contract']);
CREATE TABLE cp_log (who text, what text);
SELECT personal_data.register_table('cp_log', 'who');
SELECT personal_data.label_column('cp_log', 'what', ARRAY['cp_forever']);
CREATE TABLE cp_contacts (id int, shimei text, denwa text, memo text, yubin text, qty int);
INSERT INTO cp_contacts VALUES (1, 'Taro', '03-5555-0101', 'x@example.jp', '105-0011', 1),
	(2, 'Hanako', '+81 3 5555 0102', 'y@example.jp', '530-0001', 2);
SELECT personal_data.place_hold('A1', 'case') > 0;
INSERT INTO personal_data.requests (subject, kind, received_at, due_at)
VALUES ('A1', 'disclosure', now() - interval '40 days', now() - interval '10 days');
CREATE ROLE regress_cp_partner;
SELECT personal_data.register_recipient('regress_cp_partner', 'third_party', 'Abroad Inc.', 'US');
SET LOCAL personal_data.home_country = 'JP';

CREATE TEMP TABLE report AS SELECT * FROM personal_data.compliance_report();
SELECT is((SELECT detail FROM report WHERE check_name = 'overdue_request'),
	(SELECT format('disclosure request of subject A1, due %s', due_at) FROM personal_data.requests), 'an overdue request');
SELECT is((SELECT object FROM report WHERE check_name = 'purpose_without_retention'), 'cp_forever',
	'a purpose without retention that labels a column');
SELECT is((SELECT array_agg(object ORDER BY object) FROM report WHERE check_name = 'table_without_retention'),
	ARRAY['public.cp_log'], 'a table whose rows never expire');
SELECT is((SELECT array_agg(object ORDER BY object) FROM report WHERE check_name = 'table_without_manager'),
	ARRAY['public.cp_log'], 'a table without a department manager');
SELECT is((SELECT array_agg(object ORDER BY object) FROM report WHERE check_name = 'subject_without_index'),
	ARRAY['public.cp_log'], 'a subject column no index leads with');
SELECT is((SELECT detail FROM report WHERE check_name = 'expired_rows_held'), '1 expired rows kept by legal holds',
	'expired rows kept by a hold');
SELECT is((SELECT detail FROM report WHERE check_name = 'minor_without_guardian_consent'),
	'1 rows of minors without any guardian''s consent', 'a minor without a guardian''s consent');
SELECT is((SELECT detail FROM report WHERE check_name = 'recipient_abroad'),
	'Abroad Inc. (third_party, US): 0 subjects provided', 'a third party abroad');
SELECT ok(NOT EXISTS (SELECT 1 FROM report WHERE check_name = 'audit_chain_broken'), 'the audit chain is intact');
SELECT personal_data.record_consent('K1', 'cp_contract', by_guardian => true) > 0;
SELECT ok(NOT EXISTS (SELECT 1 FROM personal_data.compliance_report() WHERE check_name = 'minor_without_guardian_consent'),
	'a guardian''s consent clears the minor');

-- discover
CREATE TEMP TABLE found AS SELECT * FROM personal_data.discover('public');
SELECT is((SELECT array_agg(column_name::text || ':' || looks_like || ':' || found_by ORDER BY column_name)
			 FROM found WHERE relation = 'cp_contacts'::regclass),
	ARRAY['denwa:phone:name and values', 'memo:e-mail:values', 'shimei:name:name', 'yubin:postal code:name and values'],
	'romanized Japanese names and sampled values');
SELECT is((SELECT column_name::text FROM found WHERE relation = 'cp_customers'::regclass), 'mail',
	'the unlabelled e-mail column of a registered table (labelled and label-named columns are left out)');
SELECT is((SELECT suggestion FROM found WHERE relation = 'cp_customers'::regclass),
	'SELECT personal_data.label_column(''public.cp_customers'', ''mail'', ARRAY[<purposes>]);', 'with the call that labels it');
SELECT ok((SELECT suggestion FROM found WHERE column_name = 'shimei') LIKE 'SELECT personal_data.register_table(%',
	'an unregistered table: register it first');
SELECT ok(NOT EXISTS (SELECT 1 FROM found WHERE column_name = 'qty'), 'a quantity is not personal data');
SELECT throws_ok($$SELECT * FROM personal_data.discover('no_such_schema')$$, '3F000', NULL, 'an unknown schema is refused');

SELECT * FROM finish();
ROLLBACK;
