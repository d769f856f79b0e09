-- 06_audit_schema.sql: the audit's contract (DESIGN.md §2 and §4): the
-- relations compliance staff query, their columns and types, the functions'
-- signatures, the settings and their defaults, and who may touch what.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(21);

SELECT has_view('personal_data', 'access_log', 'access_log is a view (over access_log_batches)');
SELECT columns_are('personal_data', 'access_log',
	ARRAY['id', 'logged_at', 'session_user_name', 'current_user_name', 'purpose', 'recipient',
		  'relation', 'relation_id', 'columns', 'command', 'rows', 'allowed', 'reason', 'query_id',
		  'prev_hash', 'hash'],
	'access_log has the columns of DESIGN.md, and relation_id');
SELECT col_type_is('personal_data', 'access_log', 'logged_at', 'timestamp with time zone', 'access_log.logged_at');
SELECT col_type_is('personal_data', 'access_log', 'columns', 'text[]', 'access_log.columns');
SELECT col_type_is('personal_data', 'access_log', 'hash', 'bytea', 'access_log.hash');
SELECT has_table('personal_data', 'disclosure_log', 'disclosure_log is a table');
SELECT columns_are('personal_data', 'disclosure_log',
	ARRAY['id', 'logged_at', 'recipient', 'organization', 'country', 'subject', 'relation',
		  'relation_id', 'columns', 'purpose', 'basis', 'basis_id', 'cross_border', 'prev_hash', 'hash'],
	'disclosure_log has the columns of DESIGN.md, relation_id and the chain');
SELECT col_type_is('personal_data', 'disclosure_log', 'cross_border', 'boolean', 'disclosure_log.cross_border');
SELECT has_index('personal_data', 'disclosure_log', 'disclosure_log_subject', 'disclosure_log is indexed by subject');
SELECT function_returns('personal_data', 'verify_audit_log', ARRAY[]::text[], 'record',
	'verify_audit_log() returns a record');
SELECT is((SELECT string_agg(parameter_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
			 FROM information_schema.parameters
			WHERE specific_schema = 'personal_data'
			  AND specific_name LIKE 'verify_audit_log%' AND parameter_mode = 'OUT'),
	'ok boolean, checked bigint, first_bad_id bigint', 'verify_audit_log() -> (ok, checked, first_bad_id)');
SELECT is(current_setting('personal_data.audit'), 'all', 'personal_data.audit defaults to all');
SELECT is(current_setting('personal_data.audit_sync'), 'off', 'personal_data.audit_sync defaults to off');
SELECT is(current_setting('personal_data.audit_queue_full'), 'block', 'audit_queue_full defaults to block');
SELECT is(current_setting('personal_data.audit_flush_interval'), '200ms', 'flush interval 200 ms');
SELECT is((SELECT context FROM pg_settings WHERE name = 'personal_data.audit'), 'superuser',
	'personal_data.audit is superuser-only');
SELECT throws_ok($$SET personal_data.audit_flush_interval = '2s'$$, '55P02', NULL,
	'the flush interval is set in postgresql.conf only');
SELECT throws_ok($$SET personal_data.home_country = 'jp'$$, '22023', NULL,
	'home_country must be an upper-case ISO code');
CREATE ROLE regress_audit_schema_app;
SET LOCAL ROLE regress_audit_schema_app;
SELECT throws_ok($$SET personal_data.audit = off$$, '42501', NULL,
	'a non-superuser cannot switch the audit off');
SELECT throws_ok($$SELECT * FROM personal_data.access_log_batches$$, '42501', NULL,
	'a non-superuser cannot read the access log storage');
SELECT lives_ok($$SELECT personal_data.audit_flush()$$, 'anyone may wait for the audit to be written');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
