-- 05_upgrade.sql: the upgrade path from 0.1, as pg_stat_statements' oldextversions does:
-- install the old version, walk ALTER EXTENSION UPDATE, and find what the new
-- version adds, with the same members as a fresh install.
BEGIN;
SELECT plan(9);

CREATE EXTENSION personal_data VERSION '0.1';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'personal_data'), '0.1', '0.1 installs');
SELECT hasnt_view('personal_data', 'access_log', '0.1 has no access log');
CREATE TEMP TABLE members_01 AS
	SELECT pg_describe_object(classid, objid, 0) AS member FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personal_data');

ALTER EXTENSION personal_data UPDATE TO '0.2';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'personal_data'), '0.2', 'updates to 0.2');
SELECT has_view('personal_data', 'access_log', '0.2 has the access log');
SELECT has_table('personal_data', 'disclosure_log', '0.2 has the disclosure log');
SELECT has_function('personal_data', 'verify_audit_log', '0.2 has verify_audit_log()');
SELECT is_empty($$SELECT member FROM members_01 EXCEPT
	SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personal_data')$$,
	'the update keeps every member of 0.1');
ALTER EXTENSION personal_data UPDATE;	-- to the default version
CREATE TEMP TABLE members_updated AS
	SELECT pg_describe_object(classid, objid, 0) AS member FROM pg_depend
	 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personal_data');

DROP EXTENSION personal_data;
CREATE EXTENSION personal_data;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'personal_data'),
	(SELECT default_version FROM pg_available_extensions WHERE name = 'personal_data'),
	'a fresh install is the default version');
SELECT set_eq($$SELECT member FROM members_updated$$,
	$$SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
	   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
		 AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personal_data')$$,
	'a fresh install has exactly the members of an updated one');

SELECT * FROM finish();
ROLLBACK;
