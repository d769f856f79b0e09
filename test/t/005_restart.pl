# The policy survives a restart and a crash (immediate shutdown): what was
# committed is there, what was not is not, and new backends build a correct
# cache from it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
SELECT personal_data.define_purpose('p_a', 'customer', NULL, interval '1 year');
SELECT personal_data.define_purpose('p_b', 'supplier');
CREATE TABLE t (id int, subject text, email text, phone text, created date);
SELECT personal_data.register_table('t', 'subject', 'created');
SELECT personal_data.label_column('t', 'email', ARRAY['p_a']);
SELECT personal_data.label_column('t', 'phone', ARRAY['p_b'], 'null');
CREATE ROLE regress_app LOGIN;
ALTER ROLE regress_app SET personal_data.purpose = 'p_a';
SELECT personal_data.grant_purpose('regress_app', 'p_a');
SELECT personal_data.register_recipient('regress_app', 'entrustee', 'Acme KK', 'JP');
});

# What a new backend of regress_app sees, and what it had to load for it.
sub app_view
{
	return $node->safe_psql(
		'postgres', q{
SELECT column_name, purposes, on_denied, allowed FROM personal_data.column_access('t') ORDER BY 1;
SELECT purpose, purpose_defined, purpose_granted, recipient_kind, organization, country
  FROM personal_data.session_policy();
SELECT table_rule_loads, catalog_loads FROM personal_data.cache_stats();},
		extra_params => [ '-U', 'regress_app' ]);
}

my $expected = "email|{p_a}|error|t
phone|{p_b}|null|f
p_a|t|t|entrustee|Acme KK|JP
1|1";
is(app_view(), $expected, 'before restart: the application sees the policy');

$node->restart;
is(app_view(), $expected, 'after a clean restart: the same policy, loaded once');

# A committed change, then one left open, then a crash.
$node->safe_psql(
	'postgres', q{
SELECT personal_data.label_column('t', 'phone', ARRAY['p_a', 'p_b']);
SELECT personal_data.unregister_recipient('regress_app');
});
my $open = $node->background_psql('postgres', on_error_stop => 0);
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT personal_data.unlabel_column('t', 'email')});
$open->query_safe(q{SELECT personal_data.revoke_purpose('regress_app', 'p_a')});
$open->query_safe(q{SELECT personal_data.define_purpose('p_c', 'inquiry')});

$node->stop('immediate');
# psql loses its server; it is gone either way
eval { $open->quit; };
$node->start;

$expected = "email|{p_a}|error|t
phone|{p_a,p_b}|error|t
p_a|t|t|||
1|1";
is(app_view(), $expected,
	'after a crash: committed changes are there, uncommitted ones are not');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT string_agg(name, ',' ORDER BY name) FROM personal_data.purposes),
	   (SELECT string_agg(column_name, ',' ORDER BY column_name)
		  FROM personal_data.labelled_columns),
	   (SELECT count(*) FROM personal_data.recipients)}),
	'p_a,p_b|email,phone|0',
	'after a crash: the catalog and labels are consistent');

# Invalidation still reaches a live session after the crash.
my $app = $node->background_psql('postgres',
	extra_params => [ '-U', 'regress_app' ]);
is( $app->query_safe(
		q{SELECT column_name, allowed FROM personal_data.column_access('t') ORDER BY 1}),
	"email|t\nphone|t",
	'a new session after the crash sees the policy');
$node->safe_psql('postgres',
	q{SELECT personal_data.revoke_purpose('regress_app', 'p_a')});
is( $app->query_safe(
		q{SELECT column_name, allowed FROM personal_data.column_access('t') ORDER BY 1}),
	"email|f\nphone|f",
	'and sees a change committed by another session at its next statement');
is( $app->query_safe(
		q{SELECT table_rule_loads, catalog_loads FROM personal_data.cache_stats()}),
	'1|2',
	'which reloaded the grants, not the table rules');
$app->quit;

$node->safe_psql('postgres', 'DROP TABLE t; DROP ROLE regress_app;');
$node->stop;
done_testing();
