# pg_dump / pg_restore round-trips the whole policy: table and column labels
# (security labels), the catalog tables (extension config tables) and their
# id sequences.  The policy is restored into a fresh database of the same
# node, and into a fresh node whose roles come from pg_dumpall --globals-only;
# every view of the policy must read the same before and after.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tempdir = PostgreSQL::Test::Utils::tempdir;

my $src = PostgreSQL::Test::Cluster->new('dump_source');
$src->init;
$src->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$src->start;

my @roles = qw(regress_dba regress_sales regress_support regress_courier
  regress_partner regress_insurer);

$src->safe_psql('postgres', 'CREATE DATABASE pd_source');
$src->safe_psql('pd_source', join('', map { "CREATE ROLE $_;\n" } @roles) . q{
CREATE EXTENSION personal_data;
SELECT personal_data.install_default_purposes();
SELECT personal_data.define_purpose('newsletter', 'customer', 'Monthly newsletter', interval '2 years');
SELECT personal_data.define_purpose('background_check', 'applicant', NULL, interval '6 months', false);
SELECT personal_data.define_purpose('outsourced_payroll', 'entrusted', 'Payroll run for clients', interval '7 years');
SELECT personal_data.set_purpose_retention('customer_contract', interval '10 years');
SELECT personal_data.set_purpose_retention('employee_selection', interval '1 year');
SELECT personal_data.assign_manager('Sales', 'regress_sales', 'sales-privacy@example.com');
SELECT personal_data.assign_manager('HR', 'regress_dba', 'hr@example.com');
SELECT personal_data.assign_manager('HR', 'regress_support', 'hr-privacy@example.com');
SELECT personal_data.assign_manager('Legal', 'regress_dba', 'legal@example.com');

CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO regress_sales;
-- a dropped column before the labelled ones: the restored table numbers
-- its columns differently
CREATE TABLE app.customers (gone int, id int PRIMARY KEY, subject text NOT NULL,
	name text, email text, phone text, birthdate date,
	created_at timestamptz NOT NULL DEFAULT now(), notes text);
ALTER TABLE app.customers DROP COLUMN gone;
CREATE TABLE app.applicants (id int, subject text, cv text, score int, applied_on date);
CREATE TABLE app.orders (id int, subject text, address text, ordered_at timestamp,
	amount numeric) PARTITION BY RANGE (ordered_at);
CREATE TABLE app.orders_2024 PARTITION OF app.orders
	FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.orders_2025 (amount numeric, address text, subject text, id int,
	ordered_at timestamp);
ALTER TABLE app.orders ATTACH PARTITION app.orders_2025
	FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE "Mixed Case" ("Subject Id" text, "e-mail" text);
INSERT INTO app.customers (id, subject, name, email) VALUES (1, 'cust-1', 'Ann', 'ann@example.com');
INSERT INTO app.orders VALUES (1, 'cust-1', 'Tokyo', '2025-03-01', 10);

SELECT personal_data.register_table('app.customers', 'subject', 'created_at', 'birthdate', 'Sales');
SELECT personal_data.register_table('app.applicants', 'subject', 'applied_on', NULL, 'HR',
	'anonymize', interval '18 months');
SELECT personal_data.register_table('app.orders', 'subject', 'ordered_at', NULL, 'Sales');
SELECT personal_data.register_table('"Mixed Case"', 'Subject Id');
-- the table label follows a rename of the subject column, and so must the dump
ALTER TABLE app.applicants RENAME COLUMN subject TO applicant_ref;
SELECT personal_data.label_column('app.customers', 'name', ARRAY['customer_contract', 'product_delivery']);
SELECT personal_data.label_column('app.customers', 'email', ARRAY['newsletter', 'customer_information'], 'null');
SELECT personal_data.label_column('app.customers', 'phone', ARRAY['maintenance_support']);
SELECT personal_data.label_column('app.customers', 'birthdate', ARRAY['customer_contract'], 'null');
SELECT personal_data.label_column('app.applicants', 'cv', ARRAY['employee_selection', 'background_check']);
SELECT personal_data.label_column('app.applicants', 'score', ARRAY['employee_selection'], 'null');
SELECT personal_data.label_column('app.orders', 'address', ARRAY['product_delivery']);
SELECT personal_data.label_column('"Mixed Case"', 'e-mail', ARRAY['inquiry_response']);

SELECT personal_data.grant_purpose('regress_sales', 'customer_contract');
SELECT personal_data.grant_purpose('regress_sales', 'newsletter');
SELECT personal_data.grant_purpose('regress_support', 'maintenance_support');
SELECT personal_data.grant_purpose('regress_courier', 'product_delivery');
SELECT personal_data.grant_purpose('regress_partner', 'newsletter');
SELECT personal_data.register_recipient('regress_courier', 'entrustee', 'Fast Couriers KK', 'jp');
SELECT personal_data.register_recipient('regress_partner', 'third_party', 'Partner GmbH', 'DE');
SELECT personal_data.register_recipient('regress_insurer', 'third_party', 'Insurer Inc');

SELECT personal_data.record_consent('cust-1', 'newsletter');
SELECT personal_data.record_consent('cust-1', 'newsletter', 'regress_partner', false,
	now() + interval '1 year', 'web form 2024-05-01');
SELECT personal_data.record_consent('cust-2', 'newsletter', 'regress_partner');
SELECT personal_data.record_consent('minor-1', 'customer_contract', NULL, true, NULL,
	'guardian signature');
SELECT personal_data.withdraw_consent('cust-2', 'newsletter', 'regress_partner');
SELECT personal_data.record_legal_basis('regress_insurer', 'law', 'Insurance Business Act art. 1');
SELECT personal_data.record_legal_basis('regress_partner', 'vital_interest', 'Incident 42',
	'cust-3', 'customer_contract', now() + interval '30 days');
SELECT personal_data.place_hold('cust-1', 'litigation 2024-17');
SELECT personal_data.place_hold('cust-4', 'tax audit', now() + interval '90 days');
SELECT personal_data.release_hold(personal_data.place_hold('cust-5', 'closed case'));
SELECT personal_data.open_request('cust-1', 'disclosure', 'a copy of my data');
SELECT personal_data.subject_data('cust-1', 1) IS NOT NULL;
SELECT personal_data.close_request(1, 'completed', 'sent');
SELECT personal_data.open_request('cust-2', 'complaint');
});

# Every view of the policy, as text, keyed by a name.
my %views = (
	inventory => 'SELECT * FROM personal_data.inventory()',
	registered_tables =>
	  'SELECT * FROM personal_data.registered_tables ORDER BY relation::text COLLATE "C"',
	labelled_columns =>
	  'SELECT * FROM personal_data.labelled_columns ORDER BY relation::text COLLATE "C", column_name COLLATE "C"',
	raw_labels => q{
		SELECT s.objoid::regclass, a.attname, s.label
		  FROM pg_seclabel s
		  LEFT JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
		 WHERE s.provider = 'personal_data'
		 ORDER BY s.objoid::regclass::text COLLATE "C", a.attname COLLATE "C" NULLS FIRST},
	purposes => 'SELECT * FROM personal_data.purposes ORDER BY name',
	departments => 'SELECT * FROM personal_data.departments ORDER BY department',
	recipients =>
	  'SELECT * FROM personal_data.recipients ORDER BY role::text',
	purpose_grants =>
	  'SELECT * FROM personal_data.purpose_grants ORDER BY role::text, purpose',
	consents => 'SELECT * FROM personal_data.consents ORDER BY id',
	legal_bases => 'SELECT * FROM personal_data.legal_bases ORDER BY id',
	holds => 'SELECT * FROM personal_data.holds ORDER BY id',
	# the requests register, its history and actions (dumped: DESIGN.md §6)
	requests => 'SELECT * FROM personal_data.requests ORDER BY id',
	request_events => 'SELECT * FROM personal_data.request_events ORDER BY id',
	request_actions => 'SELECT * FROM personal_data.request_actions ORDER BY id',
	sequences => q{
		SELECT 'consents', last_value, is_called FROM personal_data.consents_id_seq
		UNION ALL
		SELECT 'legal_bases', last_value, is_called FROM personal_data.legal_bases_id_seq
		UNION ALL
		SELECT 'holds', last_value, is_called FROM personal_data.holds_id_seq
		UNION ALL
		SELECT 'requests', last_value, is_called FROM personal_data.requests_id_seq},
	column_access => q{
		SELECT r, a.* FROM unnest(ARRAY['app.customers', 'app.applicants', 'app.orders',
			'app.orders_2024', 'app.orders_2025', '"Mixed Case"']) r,
			personal_data.column_access(r::regclass) a
		 ORDER BY r, a.column_name},
	table_retention => q{
		SELECT relation, personal_data.table_retention(relation)
		  FROM personal_data.registered_tables ORDER BY relation::text COLLATE "C"},
	app_data => q{
		SELECT 'customers', row_to_json(c)::text FROM app.customers c
		UNION ALL SELECT 'orders', row_to_json(o)::text FROM app.orders o
		ORDER BY 1, 2},);

sub snapshot
{
	my ($node, $db) = @_;
	return { map { $_ => $node->safe_psql($db, $views{$_}) } keys %views };
}

my $before = snapshot($src, 'pd_source');

# The source itself must be what it was built to be, or comparing proves little.
is( $before->{registered_tables},
	qq{"Mixed Case"|Subject Id|||||delete
app.applicants|applicant_ref|applied_on||HR|1 year 6 mons|anonymize
app.customers|subject|created_at|birthdate|Sales||delete
app.orders|subject|ordered_at||Sales||delete},
	'source: registered tables');
is( $before->{labelled_columns},
	q{"Mixed Case"|e-mail|{inquiry_response}|error
app.applicants|cv|{employee_selection,background_check}|error
app.applicants|score|{employee_selection}|null
app.customers|birthdate|{customer_contract}|null
app.customers|email|{newsletter,customer_information}|null
app.customers|name|{customer_contract,product_delivery}|error
app.customers|phone|{maintenance_support}|error
app.orders|address|{product_delivery}|error},
	'source: labelled columns');
is( $src->safe_psql(
		'pd_source', q{
	SELECT (SELECT count(*) FROM personal_data.purposes),
		   (SELECT count(*) FROM personal_data.purposes WHERE retention IS NOT NULL),
		   (SELECT count(*) FROM personal_data.departments),
		   (SELECT count(*) FROM personal_data.recipients WHERE country IS NOT NULL),
		   (SELECT count(*) FROM personal_data.purpose_grants),
		   (SELECT count(*) FROM personal_data.consents WHERE withdrawn_at IS NOT NULL),
		   (SELECT count(*) FROM personal_data.consents WHERE by_guardian),
		   (SELECT count(*) FROM personal_data.legal_bases),
		   (SELECT count(*) FROM personal_data.holds WHERE released_at IS NOT NULL)}),
	'21|5|3|2|5|1|1|2|1',
	'source: purposes, departments, recipients, grants, consents, bases and holds');
is( $before->{sequences},
	"consents|4|t\nlegal_bases|2|t\nholds|3|t\nrequests|2|t",
	'source: id sequences');
is( $src->safe_psql(
		'pd_source',
		q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'app.customers'::regclass AND attisdropped}),
	'1',
	'source: customers has a dropped column');

is( $src->safe_psql(
		'pd_source',
		q{SELECT column_name, purposes, on_denied FROM personal_data.column_access('app.orders_2025')}),
	'address|{product_delivery}|error',
	'source: a partition with its own column order has its root\'s rules');
for my $view (sort keys %views)
{
	isnt($before->{$view}, '', "source: $view is not empty");
}

my $dump = "$tempdir/pd_source.dump";
$src->command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('pd_source') ],
	'pg_dump -Fc of the source database');

# Runs pg_restore into $db of $node; returns its exit status and stderr.
sub restore
{
	my ($node, $db) = @_;
	my ($out, $err);
	IPC::Run::run(
		[
			'pg_restore', '--verbose', '--exit-on-error',
			'-d', $node->connstr($db), $dump
		],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $err);
}

# The restore may warn that labels name purposes and departments it has not
# loaded yet; nothing else.
sub check_restore
{
	my ($node, $db, $where) = @_;
	my ($rc, $err) = restore($node, $db);
	is($rc, 0, "$where: pg_restore succeeds");
	my @warnings = grep { /WARNING|ERROR/ } split /\n/, $err;
	note "$where: pg_restore warnings:\n" . join("\n", @warnings);
	my @unexpected = grep {
		!/^pg_restore: WARNING:  (purpose|department) "[^"]+" is not defined$/
	} @warnings;
	is(join("\n", @unexpected), '',
		"$where: pg_restore warns only about purposes and departments not loaded yet");

	my $after = snapshot($node, $db);
	for my $view (sort keys %views)
	{
		is($after->{$view}, $before->{$view}, "$where: $view identical");
	}

	# Nothing is left undefined once the restore is complete.
	is( $node->safe_psql(
			$db, q{
		SELECT count(*) FROM personal_data.labelled_columns c, unnest(c.purposes) u(p)
		 WHERE NOT EXISTS (SELECT FROM personal_data.purposes WHERE name = u.p)}),
		'0',
		"$where: every labelled purpose is defined");
	is( $node->safe_psql(
			$db, q{
		SELECT count(*) FROM personal_data.registered_tables t
		 WHERE t.department IS NOT NULL
		   AND NOT EXISTS (SELECT FROM personal_data.departments d
							WHERE d.department = t.department)}),
		'0',
		"$where: every department of a table is defined");
	# The validator agrees: setting every label again warns about nothing.
	my ($ret, $stdout, $stderr) = $node->psql(
		$db, q{
BEGIN;
SELECT format('SECURITY LABEL FOR personal_data ON %s %s IS %L',
			  CASE WHEN s.objsubid = 0 THEN 'TABLE' ELSE 'COLUMN' END,
			  CASE WHEN s.objsubid = 0 THEN s.objoid::regclass::text
				   ELSE format('%s.%I', s.objoid::regclass, a.attname) END,
			  s.label)
  FROM pg_seclabel s
  LEFT JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
 WHERE s.provider = 'personal_data'
 ORDER BY s.objoid, s.objsubid
\gexec
ROLLBACK;
}, on_error_stop => 1);
	is($ret, 0, "$where: every label can be set again");
	is($stderr, '', "$where: and no label names an undefined purpose or department");

	# A new backend of a restored role sees its grant.
	is( $node->safe_psql(
			$db, q{
SET ROLE regress_sales;
SET personal_data.purpose = 'newsletter';
SELECT purpose_defined, purpose_granted FROM personal_data.session_policy();
SELECT column_name, allowed FROM personal_data.column_access('app.customers')
 ORDER BY column_name;}),
		"t|t\nbirthdate|f\nemail|t\nname|f\nphone|f",
		"$where: grants and labels work together after the restore");
	is( $node->safe_psql(
			$db, q{
SET ROLE regress_partner;
SELECT recipient_kind, organization, country FROM personal_data.session_policy();}),
		'third_party|Partner GmbH|DE',
		"$where: recipients work after the restore");

	# The id sequences continue after the restored ids.
	my ($new_ids, $dup) = (
		$node->safe_psql(
			$db, q{
SELECT personal_data.record_consent('cust-9', 'newsletter', 'regress_partner'),
	   personal_data.record_legal_basis('regress_insurer', 'law', 'Act 2'),
	   personal_data.place_hold('cust-9', 'new hold')}));
	is($new_ids, '5|3|4', "$where: new consent, legal basis and hold get the next ids");
	is( $node->safe_psql(
			$db,
			q{SELECT count(*), count(DISTINCT id), max(id) FROM personal_data.consents}),
		'5|5|5',
		"$where: consent ids stay unique");
}

# --- a fresh database of the same node -------------------------------------

$src->safe_psql('postgres', 'CREATE DATABASE pd_restored');
check_restore($src, 'pd_restored', 'same node');

is($src->safe_psql('pd_source', $views{consents}),
	$before->{consents}, 'the source is untouched by the restored copy');

# --- a fresh node, roles first ---------------------------------------------

my $dst = PostgreSQL::Test::Cluster->new('dump_target');
$dst->init;
$dst->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$dst->start;

my $globals = "$tempdir/globals.sql";
$src->command_ok(
	[
		'pg_dumpall', '--globals-only', '-f', $globals,
		'-d', $src->connstr('postgres')
	],
	'pg_dumpall --globals-only of the source node');
my ($ret, $stdout, $stderr) =
  $dst->psql('postgres', PostgreSQL::Test::Utils::slurp_file($globals),
	on_error_stop => 0);
# the bootstrap superuser exists on both nodes; that error is expected
my @errors = grep { /ERROR/ && !/role "postgres" already exists/ }
  split /\n/, $stderr;
is(join("\n", @errors), '', 'the roles load into the new node');
is( $dst->safe_psql(
		'postgres',
		q{SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'regress\_%'}),
	join(',', sort @roles),
	'the new node has the roles');

$dst->safe_psql('postgres', 'CREATE DATABASE pd_restored');
check_restore($dst, 'pd_restored', 'new node');

$dst->stop;

$src->safe_psql('postgres', 'DROP DATABASE pd_source');
$src->safe_psql('postgres', 'DROP DATABASE pd_restored');
$src->safe_psql('postgres', join('', map { "DROP ROLE $_;\n" } @roles));
$src->stop;
done_testing();
