-- CREATE EXTENSION personal_data creates its schema and catalog tables, and
-- leaves the catalogs closed to PUBLIC except for reading.
BEGIN;
CREATE EXTENSION personal_data;
SELECT plan(5);

SELECT has_schema('personal_data');
SELECT has_table('personal_data', 'purposes', 'purposes catalog exists');
SELECT has_function('personal_data', 'define_purpose',
	ARRAY['text', 'text', 'text', 'interval', 'boolean'],
	'define_purpose(name, category, description, retention, disclosed) exists');
SELECT ok(has_table_privilege('public', 'personal_data.purposes', 'SELECT'),
	'PUBLIC may read purposes');
SELECT ok(NOT has_table_privilege('public', 'personal_data.purposes', 'INSERT'),
	'PUBLIC may not write purposes');

SELECT * FROM finish();
ROLLBACK;
