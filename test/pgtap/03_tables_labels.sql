-- 03_tables_labels.sql: table and column labels, and what is derived from them.
--
-- register_table() and label_column() write the label grammar of DESIGN.md §2
-- (checked as the exact text in pg_seclabels); relabelling replaces;
-- unregister_table() removes the table's and its columns' labels; labels
-- follow table and column renames; DDL that would leave a table label naming
-- a missing column is refused; table_retention() and inventory() derive the
-- policy of each table and column from labels and catalog.
BEGIN;
CREATE EXTENSION personal_data;
SET LOCAL client_min_messages = warning;
SELECT plan(73);

-- the label of a table (column NULL) or of one of its columns, as stored
CREATE FUNCTION pg_temp.label_of(rel regclass, col name DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT s.label FROM pg_seclabel s
	 WHERE s.provider = 'personal_data' AND s.classoid = 'pg_class'::regclass
	   AND s.objoid = rel
	   AND s.objsubid = CASE WHEN col IS NULL THEN 0
						 ELSE (SELECT attnum FROM pg_attribute
								WHERE attrelid = rel AND attname = col) END
$$;

CREATE ROLE regress_pgtap03_manager;
CREATE ROLE regress_pgtap03_sales;
CREATE ROLE regress_pgtap03_partner IN ROLE regress_pgtap03_sales;
CREATE ROLE regress_pgtap03_outsourcer;
CREATE ROLE regress_pgtap03_idle_partner;
DO $$
BEGIN
	PERFORM personal_data.install_default_purposes();
	PERFORM personal_data.assign_manager('Sales', 'regress_pgtap03_manager', 'sales-privacy@example.com');
END
$$;

CREATE TABLE public.regress_pgtap03_min (id text, email text, phone text, note text);
CREATE TABLE public.regress_pgtap03_full (id text, collected timestamptz, born date, email text);
CREATE TABLE public.regress_pgtap03_ret (id text, collected date, email text);
CREATE TABLE public.regress_pgtap03_dept (id text, email text);
CREATE TABLE public.regress_pgtap03_quoted ("Customer Id" text, "Born On" date);
CREATE VIEW public.regress_pgtap03_view AS SELECT * FROM public.regress_pgtap03_min;

------------------------------------------------------------------------------
-- register_table(): the table label grammar
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_min', 'id')$$,
	'register_table() with the subject column only');
SELECT is(pg_temp.label_of('regress_pgtap03_min'), 'subject=id',
	'label: subject only (on_expiry=delete is the default and not written)');
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_full', 'id',
		'collected', 'born', 'Sales', 'anonymize', '2 years')$$,
	'register_table() with every argument');
SELECT is(pg_temp.label_of('regress_pgtap03_full'),
	'subject=id;collected_at=collected;birthdate=born;department=Sales;retention=2 years;on_expiry=anonymize',
	'label: every key, in the documented order');
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_ret', 'id',
		collected_at_column => 'collected', on_expiry => 'delete', retention => '30 days')$$,
	'register_table() with a retention and on_expiry => delete');
SELECT is(pg_temp.label_of('regress_pgtap03_ret'),
	'subject=id;collected_at=collected;retention=30 days',
	'label: retention, without on_expiry=delete');
-- one spelling of a retention, whatever the session's IntervalStyle
CREATE TABLE public.regress_pgtap03_iso (id text, collected date);
SET LOCAL IntervalStyle = iso_8601;
DO $$
BEGIN
	PERFORM personal_data.register_table('regress_pgtap03_iso', 'id', 'collected',
		retention => '1 year 2 months 3 days');
END
$$;
RESET IntervalStyle;
SELECT is(pg_temp.label_of('regress_pgtap03_iso'),
	'subject=id;collected_at=collected;retention=1 year 2 mons 3 days',
	'label: the retention is written in the postgres IntervalStyle even under iso_8601');
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_dept', 'id',
		department => 'Sales')$$,
	'register_table() with a department');
SELECT is(pg_temp.label_of('regress_pgtap03_dept'), 'subject=id;department=Sales',
	'label: department');
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_quoted',
		'Customer Id', birthdate_column => 'Born On')$$,
	'register_table() with column names that need quoting');
SELECT is(pg_temp.label_of('regress_pgtap03_quoted'), 'subject=Customer Id;birthdate=Born On',
	'label: column names are written exactly as stored, unquoted');

SELECT results_eq(
	$$SELECT relation::text, subject_column::text COLLATE "default", collected_at_column::text COLLATE "default",
			 birthdate_column::text COLLATE "default", department, retention, on_expiry
		FROM personal_data.registered_tables
	   WHERE relation::text LIKE 'regress_pgtap03_%' ORDER BY 1$$,
	$$VALUES
	  ('regress_pgtap03_dept', 'id', NULL, NULL, 'Sales', NULL::interval, 'delete'),
	  ('regress_pgtap03_full', 'id', 'collected', 'born', 'Sales', interval '2 years', 'anonymize'),
	  ('regress_pgtap03_iso', 'id', 'collected', NULL, NULL, interval '1 year 2 months 3 days', 'delete'),
	  ('regress_pgtap03_min', 'id', NULL, NULL, NULL, NULL, 'delete'),
	  ('regress_pgtap03_quoted', 'Customer Id', NULL, 'Born On', NULL, NULL, 'delete'),
	  ('regress_pgtap03_ret', 'id', 'collected', NULL, NULL, interval '30 days', 'delete')$$,
	'registered_tables reads the labels back');

-- refused, and nothing stored
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_min', 'id')$$,
	'42710', NULL, 'a registered table cannot be registered again');
SELECT is(pg_temp.label_of('regress_pgtap03_min'), 'subject=id',
	'the refused registration left the label alone');
CREATE TABLE public.regress_pgtap03_bad (id text, collected text);
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_bad', 'nope')$$,
	'42703', NULL, 'the subject column must exist');
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_bad', 'id', 'collected')$$,
	'42804', NULL, 'the collected_at column must hold a date or time');
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_bad', 'id',
		retention => '1 year')$$,
	'22023', NULL, 'a retention needs a collected_at column');
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_bad', 'id',
		department => 'Nowhere')$$,
	'42704', NULL, 'the department must be defined');
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_view', 'id')$$,
	'42809', NULL, 'only tables can be registered');
SELECT is(pg_temp.label_of('regress_pgtap03_bad'), NULL,
	'refused registrations stored nothing');

------------------------------------------------------------------------------
-- label_column(): the column label grammar; relabelling replaces
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'email',
		ARRAY['customer_contract'])$$,
	'label_column() with one purpose');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'email'), 'purposes=customer_contract',
	'label: one purpose (on_denied=error is the default and not written)');
SELECT lives_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'phone',
		ARRAY['customer_contract', 'product_delivery'], 'null')$$,
	'label_column() with two purposes and on_denied => null');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'phone'),
	'purposes=customer_contract,product_delivery;on_denied=null',
	'label: purposes in the given order, then on_denied=null');
SELECT lives_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'note',
		ARRAY['maintenance_support'], 'error')$$,
	'label_column() with on_denied => error');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'note'), 'purposes=maintenance_support',
	'label: on_denied=error is not written');

SELECT lives_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'email',
		ARRAY['product_delivery', 'client_contract'], 'null')$$,
	'relabelling a labelled column');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'email'),
	'purposes=product_delivery,client_contract;on_denied=null',
	'relabelling replaces the column label');
SELECT results_eq(
	$$SELECT column_name::text COLLATE "default", purposes, on_denied FROM personal_data.labelled_columns
	   WHERE relation = 'regress_pgtap03_min'::regclass ORDER BY 1$$,
	$$VALUES ('email', ARRAY['product_delivery', 'client_contract'], 'null'),
			 ('note', ARRAY['maintenance_support'], 'error'),
			 ('phone', ARRAY['customer_contract', 'product_delivery'], 'null')$$,
	'labelled_columns: one row per column, the latest label');

SELECT throws_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'email',
		ARRAY['regress_undefined'])$$,
	'42704', NULL, 'label_column() refuses an undefined purpose');
SELECT throws_ok($$SELECT personal_data.label_column('regress_pgtap03_min', 'email',
		ARRAY['customer_contract', 'customer_contract'])$$,
	'22023', NULL, 'label_column() refuses a purpose listed twice');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'email'),
	'purposes=product_delivery,client_contract;on_denied=null',
	'refused relabelling left the label alone');
SELECT throws_ok($$SELECT personal_data.label_column('regress_pgtap03_bad', 'id',
		ARRAY['customer_contract'])$$,
	'55000', NULL, 'label_column() on an unregistered table');

SELECT lives_ok($$SELECT personal_data.unlabel_column('regress_pgtap03_min', 'note')$$,
	'unlabel_column()');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'note'), NULL,
	'unlabel_column() removed the column label');
SELECT throws_ok($$SELECT personal_data.unlabel_column('regress_pgtap03_min', 'note')$$,
	'42704', NULL, 'unlabel_column() of an unlabelled column');

-- a raw label (superuser) replaces the table label; column labels stay
SECURITY LABEL FOR personal_data ON TABLE public.regress_pgtap03_min IS 'subject=phone';
SELECT is(pg_temp.label_of('regress_pgtap03_min'), 'subject=phone',
	'SECURITY LABEL replaces the table label');
SELECT is(pg_temp.label_of('regress_pgtap03_min', 'email'),
	'purposes=product_delivery,client_contract;on_denied=null',
	'and leaves the column labels alone');
SECURITY LABEL FOR personal_data ON TABLE public.regress_pgtap03_min IS 'subject=id';

------------------------------------------------------------------------------
-- unregister_table()
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT personal_data.unregister_table('regress_pgtap03_min')$$,
	'unregister_table() of a table with labelled columns');
SELECT is_empty(
	$$SELECT * FROM pg_seclabel WHERE provider = 'personal_data'
	   AND objoid = 'regress_pgtap03_min'::regclass$$,
	'unregister_table() removed the table label and every column label');
SELECT is_empty(
	$$SELECT * FROM personal_data.labelled_columns
	   WHERE relation = 'regress_pgtap03_min'::regclass
	  UNION ALL
	  SELECT relation, NULL, NULL, NULL FROM personal_data.registered_tables
	   WHERE relation = 'regress_pgtap03_min'::regclass$$,
	'the views no longer list the table');
SELECT throws_ok($$SELECT personal_data.unregister_table('regress_pgtap03_min')$$,
	'55000', NULL, 'unregister_table() of an unregistered table');
SELECT lives_ok($$SELECT personal_data.register_table('regress_pgtap03_min', 'email')$$,
	'an unregistered table can be registered anew');
SELECT is(pg_temp.label_of('regress_pgtap03_min'), 'subject=email',
	'with its new label');

------------------------------------------------------------------------------
-- labels and DDL: renames are followed, breaking changes refused
------------------------------------------------------------------------------
DO $$
BEGIN
	PERFORM personal_data.label_column('regress_pgtap03_full', 'email', ARRAY['customer_contract']);
END
$$;
ALTER TABLE public.regress_pgtap03_full RENAME TO regress_pgtap03_renamed;
SELECT results_eq(
	$$SELECT relation::text, subject_column::text COLLATE "default" FROM personal_data.registered_tables
	   WHERE relation::text LIKE 'regress_pgtap03_%' AND department IS NOT DISTINCT FROM 'Sales'
	   ORDER BY 1$$,
	$$VALUES ('regress_pgtap03_dept', 'id'), ('regress_pgtap03_renamed', 'id')$$,
	'the table label follows a table rename');
SELECT results_eq(
	$$SELECT relation::text, column_name::text COLLATE "default" FROM personal_data.labelled_columns
	   WHERE relation = 'regress_pgtap03_renamed'::regclass$$,
	$$VALUES ('regress_pgtap03_renamed', 'email')$$,
	'column labels follow a table rename');

ALTER TABLE public.regress_pgtap03_renamed RENAME COLUMN email TO mail;
SELECT results_eq(
	$$SELECT column_name::text COLLATE "default", purposes FROM personal_data.labelled_columns
	   WHERE relation = 'regress_pgtap03_renamed'::regclass$$,
	$$VALUES ('mail', ARRAY['customer_contract'])$$,
	'a column label follows a column rename');

ALTER TABLE public.regress_pgtap03_renamed RENAME COLUMN id TO customer_id;
ALTER TABLE public.regress_pgtap03_renamed RENAME COLUMN collected TO collected_on;
ALTER TABLE public.regress_pgtap03_renamed RENAME COLUMN born TO birthday;
SELECT is(pg_temp.label_of('regress_pgtap03_renamed'),
	'subject=customer_id;collected_at=collected_on;birthdate=birthday;department=Sales;retention=2 years;on_expiry=anonymize',
	'renaming the subject, collected_at and birthdate columns rewrites the table label');
SELECT results_eq(
	$$SELECT subject_column::text COLLATE "default", collected_at_column::text COLLATE "default", birthdate_column::text COLLATE "default"
		FROM personal_data.registered_tables
	   WHERE relation = 'regress_pgtap03_renamed'::regclass$$,
	$$VALUES ('customer_id', 'collected_on', 'birthday')$$,
	'registered_tables shows the new column names');

SELECT throws_ok($$ALTER TABLE public.regress_pgtap03_renamed RENAME COLUMN customer_id TO "a;b"$$,
	'42602', NULL, 'the subject column cannot be renamed to a name the grammar cannot hold');
SELECT throws_ok($$ALTER TABLE public.regress_pgtap03_renamed DROP COLUMN customer_id$$,
	'2BP01', NULL, 'dropping the subject column is refused');
SELECT throws_ok($$ALTER TABLE public.regress_pgtap03_renamed DROP COLUMN collected_on$$,
	'2BP01', NULL, 'dropping the collected_at column is refused');
SELECT throws_ok($$ALTER TABLE public.regress_pgtap03_renamed ALTER COLUMN birthday TYPE text$$,
	'2BP01', NULL, 'retyping the birthdate column to a non-date type is refused');
SELECT results_eq(
	$$SELECT subject_column::text COLLATE "default", collected_at_column::text COLLATE "default", birthdate_column::text COLLATE "default"
		FROM personal_data.registered_tables
	   WHERE relation = 'regress_pgtap03_renamed'::regclass$$,
	$$SELECT a.attname::text COLLATE "default", b.attname::text COLLATE "default", c.attname::text COLLATE "default"
		FROM pg_attribute a, pg_attribute b, pg_attribute c
	   WHERE (a.attrelid, a.attname, b.attrelid, b.attname, c.attrelid, c.attname) =
			 ('regress_pgtap03_renamed'::regclass, 'customer_id',
			  'regress_pgtap03_renamed'::regclass, 'collected_on',
			  'regress_pgtap03_renamed'::regclass, 'birthday')
		 AND NOT a.attisdropped AND NOT b.attisdropped AND NOT c.attisdropped$$,
	'the columns the table label names still exist');
ALTER TABLE public.regress_pgtap03_renamed DROP COLUMN mail;
SELECT is_empty(
	$$SELECT * FROM personal_data.labelled_columns
	   WHERE relation = 'regress_pgtap03_renamed'::regclass$$,
	'dropping a labelled column drops its label');
SELECT isnt(pg_temp.label_of('regress_pgtap03_renamed'), NULL,
	'and the table stays registered');

-- DDL on an inheritance parent reaches a registered child (the parent is
-- registered too: a child of an unregistered parent cannot be, see below)
CREATE TABLE public.regress_pgtap03_parent (id text, collected timestamptz);
CREATE TABLE public.regress_pgtap03_child () INHERITS (public.regress_pgtap03_parent);
SELECT throws_ok($$SELECT personal_data.register_table('regress_pgtap03_child', 'id', 'collected')$$,
	'0A000', NULL,
	'a child of an unregistered inheritance parent cannot be registered (the parent would read it)');
DO $$
BEGIN
	PERFORM personal_data.register_table('regress_pgtap03_parent', 'id', 'collected');
	PERFORM personal_data.register_table('regress_pgtap03_child', 'id', 'collected');
END
$$;
ALTER TABLE public.regress_pgtap03_parent RENAME COLUMN id TO person_id;
SELECT is(
	(SELECT subject_column::text COLLATE "default" FROM personal_data.registered_tables
	  WHERE relation = 'regress_pgtap03_child'::regclass),
	'person_id',
	'a rename through the inheritance parent is followed by the child''s label');
SELECT throws_ok($$ALTER TABLE public.regress_pgtap03_parent DROP COLUMN collected$$,
	'2BP01', NULL,
	'dropping, through the parent, a column the child''s label names is refused');

------------------------------------------------------------------------------
-- table_retention()
------------------------------------------------------------------------------
DO $$
BEGIN
	PERFORM personal_data.define_purpose('regress_year', 'customer', retention => '1 year');
	PERFORM personal_data.define_purpose('regress_400d', 'customer', retention => '400 days');
	PERFORM personal_data.define_purpose('regress_2y', 'supplier', retention => '2 years');
	PERFORM personal_data.define_purpose('regress_700d', 'supplier', retention => '700 days');
	PERFORM personal_data.define_purpose('regress_forever', 'customer');
END
$$;
CREATE TABLE public.regress_pgtap03_r1 (id text, at date, a text, b text, c text);
DO $$
BEGIN
	PERFORM personal_data.register_table('regress_pgtap03_r1', 'id', 'at');
END
$$;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), NULL::interval,
	'no own retention and no labelled column: no retention');
DO $$
BEGIN
	PERFORM personal_data.label_column('regress_pgtap03_r1', 'a', ARRAY['regress_year']);
	PERFORM personal_data.label_column('regress_pgtap03_r1', 'b', ARRAY['regress_400d']);
END
$$;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), interval '400 days',
	'the longest retention among the purposes of the labelled columns (400 days > 1 year)');
DO $$
BEGIN
	PERFORM personal_data.label_column('regress_pgtap03_r1', 'c', ARRAY['regress_2y', 'regress_700d']);
END
$$;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), interval '2 years',
	'purposes of one column count too (2 years > 700 days)');
DO $$
BEGIN
	PERFORM personal_data.set_purpose_retention('regress_year', '3 years');
END
$$;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), interval '3 years',
	'a changed purpose retention counts at once');
DO $$
BEGIN
	PERFORM personal_data.label_column('regress_pgtap03_r1', 'b', ARRAY['regress_400d', 'regress_forever']);
END
$$;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), NULL::interval,
	'NULL when any purpose of a labelled column has no retention');
-- a raw label may name an undefined purpose (a restore does): WARNING only
SET LOCAL client_min_messages = error;
SECURITY LABEL FOR personal_data ON COLUMN public.regress_pgtap03_r1.b IS 'purposes=regress_400d,regress_undefined';
SET LOCAL client_min_messages = warning;
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), NULL::interval,
	'NULL when a labelled column names an undefined purpose');
SECURITY LABEL FOR personal_data ON TABLE public.regress_pgtap03_r1 IS 'subject=id;collected_at=at;retention=10 days';
SELECT is(personal_data.table_retention('regress_pgtap03_r1'), interval '10 days',
	'the table''s own retention wins over its purposes''');
SELECT is(personal_data.table_retention('regress_pgtap03_ret'), interval '30 days',
	'own retention of a table without labelled columns');

------------------------------------------------------------------------------
-- inventory()
------------------------------------------------------------------------------
DO $$
BEGIN
	PERFORM personal_data.register_recipient('regress_pgtap03_partner', 'third_party', 'Partner KK', 'JP');
	PERFORM personal_data.register_recipient('regress_pgtap03_outsourcer', 'entrustee', 'Outsource KK');
	PERFORM personal_data.register_recipient('regress_pgtap03_idle_partner', 'third_party', 'Idle KK');
	-- an internal role; the partner holds its purposes through membership
	PERFORM personal_data.grant_purpose('regress_pgtap03_sales', 'maintenance_support');
	PERFORM personal_data.grant_purpose('regress_pgtap03_outsourcer', 'client_contract');
	PERFORM personal_data.grant_purpose('regress_pgtap03_idle_partner', 'supplier_payment');
	PERFORM personal_data.label_column('regress_pgtap03_dept', 'email',
		ARRAY['maintenance_support', 'client_contract']);
	PERFORM personal_data.label_column('regress_pgtap03_dept', 'id', ARRAY['client_contract'], 'null');
	PERFORM personal_data.label_column('regress_pgtap03_min', 'phone', ARRAY['inquiry_response']);
END
$$;
SELECT results_eq(
	$$SELECT column_name::text COLLATE "default", purposes, categories, disclosed, on_denied, retention,
			 on_expiry, department, manager::text
		FROM personal_data.inventory()
	   WHERE relation = 'regress_pgtap03_dept'::regclass ORDER BY column_name$$,
	$$VALUES
	  ('email', ARRAY['maintenance_support', 'client_contract'], ARRAY['customer', 'entrusted'],
	   true, 'error', NULL::interval, 'delete', 'Sales', 'regress_pgtap03_manager'),
	  ('id', ARRAY['client_contract'], ARRAY['entrusted'],
	   false, 'null', NULL::interval, 'delete', 'Sales', 'regress_pgtap03_manager')$$,
	'inventory(): purposes, categories, disclosed if any purpose is, department and manager');
SELECT is(
	(SELECT recipients FROM personal_data.inventory()
	  WHERE relation = 'regress_pgtap03_dept'::regclass AND column_name = 'id'),
	ARRAY['regress_pgtap03_outsourcer'],
	'inventory(): recipients granted one of the column''s purposes');
SELECT is(
	(SELECT recipients FROM personal_data.inventory()
	  WHERE relation = 'regress_pgtap03_dept'::regclass AND column_name = 'email'),
	ARRAY['regress_pgtap03_outsourcer', 'regress_pgtap03_partner'],
	'inventory(): a recipient holding a purpose through role membership is listed');
SELECT results_eq(
	$$SELECT column_name::text COLLATE "default", categories, disclosed, department, manager::text, recipients
		FROM personal_data.inventory()
	   WHERE relation = 'regress_pgtap03_min'::regclass$$,
	$$VALUES ('phone', ARRAY['inquiry'], true, NULL::text, NULL::text, NULL::text[])$$,
	'inventory(): no department, no manager, no recipient');
SELECT is(
	(SELECT retention FROM personal_data.inventory()
	  WHERE relation = 'regress_pgtap03_r1'::regclass AND column_name = 'a'),
	interval '10 days', 'inventory(): the table''s retention');
SELECT is(
	(SELECT count(*)::int FROM personal_data.inventory()),
	(SELECT count(*)::int FROM personal_data.labelled_columns),
	'inventory(): one row per labelled column');

SELECT * FROM finish();
ROLLBACK;
