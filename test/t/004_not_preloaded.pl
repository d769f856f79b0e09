# Without shared_preload_libraries, personal_data can be installed but
# refuses to work: every C entry point raises 55000, and the label provider
# does not exist.  Preloading it (and restarting) makes the same calls work;
# taking preloading away again stops them without losing the policy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'the server runs without preloading');

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION personal_data');
is($ret, 0, 'CREATE EXTENSION personal_data succeeds without preloading');
is($stderr, '', 'CREATE EXTENSION reports nothing');
$node->safe_psql('postgres',
	'CREATE TABLE t (id int, subject text, email text, created date)');

my $not_loaded =
  qr/ERROR:  55000: personal_data must be loaded via shared_preload_libraries\n(.*\n)?DETAIL:  Without preloading, the privacy policy cannot be enforced on every query\.\nHINT:  Add personal_data to shared_preload_libraries in postgresql\.conf and restart the server\./;

# Runs SQL with verbose errors (SQLSTATE in the message); returns psql's
# exit status, stdout and stderr.
sub run_verbose
{
	my ($sql) = @_;
	return $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
}

sub refuses_not_loaded
{
	my ($sql, $what) = @_;
	my ($ret, $stdout, $stderr) = run_verbose($sql);
	isnt($ret, 0, "$what fails without preloading");
	like($stderr, $not_loaded, "$what raises 55000 \"must be loaded via shared_preload_libraries\"");
}

refuses_not_loaded(q{SELECT * FROM personal_data.column_access('t')},
	'column_access()');
refuses_not_loaded(q{SELECT * FROM personal_data.session_policy()},
	'session_policy()');
refuses_not_loaded(q{SELECT * FROM personal_data.cache_stats()},
	'cache_stats()');
refuses_not_loaded(q{SELECT personal_data.define_purpose('p_a', 'customer')},
	'define_purpose()');
refuses_not_loaded(q{SELECT personal_data.install_default_purposes()},
	'install_default_purposes()');
refuses_not_loaded(
	q{SELECT * FROM personal_data._parse_column_label('purposes=p_a')},
	'_parse_column_label()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM personal_data.purposes'),
	'0', 'the refused calls stored nothing');
# The parts of the API written in SQL alone must refuse too: without
# preloading no part of the policy works, and nothing is written into a policy
# the server cannot enforce.
refuses_not_loaded(q{SELECT * FROM personal_data.inventory()},
	'inventory() of an empty policy');
refuses_not_loaded(q{SELECT personal_data.assign_manager('Sales', 'postgres', 'x@example.com')},
	'assign_manager()');
refuses_not_loaded(q{SELECT personal_data.place_hold('s-1', 'litigation')},
	'place_hold()');
is( $node->safe_psql('postgres',
		'SELECT (SELECT count(*) FROM personal_data.departments) + (SELECT count(*) FROM personal_data.holds)'),
	'0', 'no department or hold was stored');

($ret, $stdout, $stderr) = run_verbose(
	q{SECURITY LABEL FOR personal_data ON TABLE t IS 'subject=subject'});
isnt($ret, 0, 'SECURITY LABEL FOR personal_data fails without preloading');
like(
	$stderr,
	qr/ERROR:  22023: security label provider "personal_data" is not loaded/,
	'SECURITY LABEL FOR personal_data: the provider is not loaded');
($ret, $stdout, $stderr) =
  run_verbose(q{SELECT personal_data.register_table('t', 'subject')});
isnt($ret, 0, 'register_table() fails without preloading');
like(
	$stderr,
	qr/ERROR:  55000: personal_data must be loaded via shared_preload_libraries/,
	'register_table(): refuses before writing any label');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_seclabel WHERE provider = 'personal_data'}),
	'0', 'no label was stored');

# --- preloaded: the same calls work ----------------------------------------

$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->restart;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'personal_data', 'the server now preloads personal_data');

my $policy = q{
SELECT personal_data.define_purpose('p_a', 'customer', NULL, interval '1 year');
SELECT personal_data.install_default_purposes();
SELECT personal_data.register_table('t', 'subject', 'created');
SECURITY LABEL FOR personal_data ON COLUMN t.email IS 'purposes=p_a;on_denied=null';
SELECT personal_data.label_column('t', 'id', ARRAY['customer_contract']);
};
($ret, $stdout, $stderr) = run_verbose($policy);
is($ret, 0, 'the policy functions and SECURITY LABEL work once preloaded');
is($stderr, '', 'and report nothing');

my $inventory = 't|email|{p_a}|{customer}|t|null||delete|||
t|id|{customer_contract}|{customer}|t|error||delete|||';
is($node->safe_psql('postgres', 'SELECT * FROM personal_data.inventory()'),
	$inventory, 'inventory() lists the labelled columns');
is( $node->safe_psql(
		'postgres',
		q{SELECT column_name, purposes, on_denied, allowed FROM personal_data.column_access('t') ORDER BY 1}
	),
	"email|{p_a}|null|t\nid|{customer_contract}|error|t",
	'column_access() works');
is( $node->safe_psql(
		'postgres',
		q{SET personal_data.purpose = 'p_a'; SELECT role_name, superuser, purpose, purpose_defined FROM personal_data.session_policy()}
	),
	'postgres|t|p_a|t',
	'session_policy() works');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM personal_data.column_access('t'); SELECT table_rule_loads, catalog_loads FROM personal_data.cache_stats()}
	),
	"2\n1|0",
	'cache_stats() works');

# --- preloading taken away again: refused, but nothing is lost -------------

$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;

refuses_not_loaded(q{SELECT * FROM personal_data.inventory()},
	'inventory() of an existing policy');
refuses_not_loaded(q{SELECT * FROM personal_data.registered_tables},
	'the registered_tables view');
refuses_not_loaded(q{SELECT * FROM personal_data.column_access('t')},
	'column_access() of a labelled table');
refuses_not_loaded(q{SELECT personal_data.define_purpose('p_b', 'supplier')},
	'define_purpose() of an existing policy');
refuses_not_loaded(q{SELECT personal_data.unlabel_column('t', 'email')},
	'unlabel_column()');
($ret, $stdout, $stderr) =
  run_verbose(q{SECURITY LABEL FOR personal_data ON COLUMN t.email IS NULL});
like(
	$stderr,
	qr/ERROR:  22023: security label provider "personal_data" is not loaded/,
	'labels cannot be removed behind the provider\'s back');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM personal_data.purposes WHERE name = 'p_a' AND retention = interval '1 year'}
	),
	'1',
	'the catalog tables are intact and readable');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_seclabel WHERE provider = 'personal_data'}),
	'3', 'the labels are intact');

$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT * FROM personal_data.inventory()'),
	$inventory, 'preloaded again, the policy is as it was');

$node->stop;
done_testing();
