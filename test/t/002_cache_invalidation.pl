# The per-backend policy cache: a session loads a table's rules and the
# policy catalog (purposes, grants, recipients) once, keeps them across
# queries, and reloads them at its first statement after another session
# commits a change -- never before the commit, never after a rollback.
#
# Session A is an application role with a purpose; session B is the DBA.
# After every step A's very next statement is checked, then its
# cache_stats() counters, then that repeating the statement reloads nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cache_inval');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
# autovacuum's ANALYZE of the catalog tables would send relcache
# invalidations of its own and make the load counters unpredictable
$node->append_conf('postgresql.conf', 'autovacuum = off');
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
SELECT personal_data.define_purpose('p_a', 'customer');
SELECT personal_data.define_purpose('p_b', 'supplier');
CREATE TABLE t (id int, subject text, email text, phone text, note text,
				extra text);
SELECT personal_data.register_table('t', 'subject');
SELECT personal_data.label_column('t', 'email', ARRAY['p_a']);
SELECT personal_data.label_column('t', 'phone', ARRAY['p_a', 'p_b'], 'null');
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_app_group NOLOGIN;
SELECT personal_data.grant_purpose('regress_app', 'p_a');
SELECT personal_data.grant_purpose('regress_app_group', 'p_b');
});

my $sa = $node->background_psql('postgres',
	extra_params => [ '-U', 'regress_app' ]);
my $sb = $node->background_psql('postgres');

# Runs SQL in a session; the test fails if it reports anything on stderr.
sub run_in
{
	my ($session, $sql, $what) = @_;
	$session->{stderr} = '';
	my $out = $session->query($sql);
	is($session->{stderr}, '', "$what: no error or notice")
	  if $session->{stderr} ne '';
	return $out;
}

sub access
{
	my ($rel) = @_;
	return run_in($sa,
		"SELECT column_name, purposes, on_denied, allowed FROM personal_data.column_access('$rel') ORDER BY column_name",
		"column_access($rel)");
}

sub policy
{
	return run_in($sa,
		'SELECT role_name, superuser, purpose, purpose_defined, purpose_granted, recipient_kind, organization, country FROM personal_data.session_policy()',
		'session_policy()');
}

# (table_rule_loads, catalog_loads) of session A
sub loads
{
	my $out = run_in($sa,
		'SELECT table_rule_loads, catalog_loads FROM personal_data.cache_stats()',
		'cache_stats()');
	return split /\|/, $out;
}

my ($t0, $c0);

# Checks the deltas of A's load counters since the last call, then that
# five more column_access() and session_policy() calls load nothing.
sub check_loads
{
	my ($rel, $dt, $dc, $what) = @_;
	my ($t, $c) = loads();
	is($t - $t0, $dt, "$what: table rules loaded $dt time(s)");
	is($c - $c0, $dc, "$what: policy catalog loaded $dc time(s)");
	my $before = access($rel);
	for (1 .. 5)
	{
		access($rel);
		policy();
	}
	is(access($rel), $before, "$what: repeated queries give the same answer");
	my ($t2, $c2) = loads();
	is("$t2|$c2", "$t|$c", "$what: repeated queries reload nothing");
	($t0, $c0) = ($t2, $c2);
}

run_in($sa, q{SET personal_data.purpose = 'p_a'}, 'SET purpose');
($t0, $c0) = loads();
is("$t0|$c0", '0|0', 'a new session has loaded nothing');

is( access('t'),
	"email|{p_a}|error|t\nphone|{p_a,p_b}|null|t",
	'A sees the labels of t and may use them for p_a');
is(policy(), 'regress_app|f|p_a|t|t|||', 'A sees its purpose, defined and granted');
check_loads('t', 1, 1, 'first use');

# --- label changes by B, committed -----------------------------------------

run_in($sb, q{SELECT personal_data.label_column('t', 'email', ARRAY['p_b'])},
	'relabel email');
is( access('t'),
	"email|{p_b}|error|f\nphone|{p_a,p_b}|null|t",
	'relabelling a column with another purpose is seen at the next statement');
check_loads('t', 1, 0, 'relabel');

run_in($sb,
	q{SELECT personal_data.label_column('t', 'email', ARRAY['p_b', 'p_a'], 'null')},
	'relabel email on_denied');
is( access('t'),
	"email|{p_b,p_a}|null|t\nphone|{p_a,p_b}|null|t",
	'a new on_denied and purpose list are seen at the next statement');
check_loads('t', 1, 0, 'on_denied');

run_in($sb, q{SELECT personal_data.unlabel_column('t', 'phone')},
	'unlabel phone');
is(access('t'), "email|{p_b,p_a}|null|t",
	'an unlabelled column is gone at the next statement');
check_loads('t', 1, 0, 'unlabel');

run_in($sb, q{SECURITY LABEL FOR personal_data ON COLUMN t.phone IS 'purposes=p_b'},
	'raw label');
is( access('t'),
	"email|{p_b,p_a}|null|t\nphone|{p_b}|error|f",
	'a raw SECURITY LABEL is seen at the next statement');
check_loads('t', 1, 0, 'raw label');

# --- uncommitted and rolled-back label changes -----------------------------

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.label_column('t', 'email', ARRAY['p_a'])},
	'relabel in open transaction');
is( run_in($sb,
		q{SELECT purposes FROM personal_data.labelled_columns WHERE relation = 't'::regclass AND column_name = 'email'},
		'B reads back'),
	'{p_a}',
	'B sees its own uncommitted label');
is( access('t'),
	"email|{p_b,p_a}|null|t\nphone|{p_b}|error|f",
	'a label changed in an open transaction is not visible to A');
check_loads('t', 0, 0, 'open transaction');
run_in($sb, 'COMMIT', 'commit');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'the label is seen at the next statement after commit');
check_loads('t', 1, 0, 'commit');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.unregister_table('t')},
	'unregister in open transaction');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'an unregistration in an open transaction is not visible to A');
run_in($sb, 'ROLLBACK', 'rollback');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'a rolled-back unregistration is never visible to A');
check_loads('t', 0, 0, 'rollback');

# --- grants, recipients, purposes ------------------------------------------

run_in($sb, q{SELECT personal_data.revoke_purpose('regress_app', 'p_a')},
	'revoke');
is(policy(), 'regress_app|f|p_a|t|f|||',
	'a revoked purpose is seen at the next statement');
is( access('t'),
	"email|{p_a}|error|f\nphone|{p_b}|error|f",
	'without the grant A may not use the column');
check_loads('t', 0, 1, 'revoke');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.grant_purpose('regress_app', 'p_a')},
	'grant in open transaction');
is(policy(), 'regress_app|f|p_a|t|f|||',
	'a grant in an open transaction is not visible to A');
check_loads('t', 0, 0, 'grant in open transaction');
run_in($sb, 'COMMIT', 'commit');
is(policy(), 'regress_app|f|p_a|t|t|||',
	'the grant is seen at the next statement after commit');
check_loads('t', 0, 1, 'grant');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.revoke_purpose('regress_app', 'p_a')},
	'revoke in open transaction');
run_in($sb, 'ROLLBACK', 'rollback');
is(policy(), 'regress_app|f|p_a|t|t|||', 'a rolled-back revoke is never seen');
check_loads('t', 0, 0, 'rolled-back revoke');

# grants follow role membership
run_in($sa, q{SET personal_data.purpose = 'p_b'}, 'SET purpose p_b');
is(policy(), 'regress_app|f|p_b|t|f|||', 'p_b is not granted to A');
run_in($sb, 'GRANT regress_app_group TO regress_app', 'grant membership');
is(policy(), 'regress_app|f|p_b|t|t|||',
	'membership in a role holding p_b is seen at the next statement');
is( access('t'),
	"email|{p_a}|error|f\nphone|{p_b}|error|t",
	'and column access follows it');
run_in($sb, 'REVOKE regress_app_group FROM regress_app', 'revoke membership');
is(policy(), 'regress_app|f|p_b|t|f|||',
	'losing the membership is seen at the next statement');
check_loads('t', 0, 0, 'role membership');
run_in($sa, q{SET personal_data.purpose = 'p_a'}, 'SET purpose p_a');

run_in($sb,
	q{SELECT personal_data.register_recipient('regress_app', 'entrustee', 'Acme KK', 'jp')},
	'register recipient');
is(policy(), 'regress_app|f|p_a|t|t|entrustee|Acme KK|JP',
	'registration as a recipient is seen at the next statement');
check_loads('t', 0, 1, 'register recipient');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.unregister_recipient('regress_app')},
	'unregister in open transaction');
is(policy(), 'regress_app|f|p_a|t|t|entrustee|Acme KK|JP',
	'an unregistration in an open transaction is not visible to A');
run_in($sb, 'COMMIT', 'commit');
is(policy(), 'regress_app|f|p_a|t|t|||',
	'the unregistration is seen at the next statement after commit');
check_loads('t', 0, 1, 'unregister recipient');

run_in($sb,
	q{SELECT personal_data.register_recipient('regress_app', 'third_party', 'Beta GmbH', 'DE')},
	'register third party');
is(policy(), 'regress_app|f|p_a|t|t|third_party|Beta GmbH|DE',
	'a new registration is seen at the next statement');
run_in($sb, q{SELECT personal_data.unregister_recipient('regress_app')},
	'unregister');
is(policy(), 'regress_app|f|p_a|t|t|||', 'and its removal');
check_loads('t', 0, 2, 'recipient round trip');

run_in($sa, q{SET personal_data.purpose = 'p_new'}, 'SET purpose p_new');
is(policy(), 'regress_app|f|p_new|f|f|||', 'an undefined purpose is not defined');
run_in($sb, q{SELECT personal_data.define_purpose('p_new', 'inquiry')},
	'define purpose');
is(policy(), 'regress_app|f|p_new|t|f|||',
	'a new purpose is seen at the next statement');
run_in($sb, q{SELECT personal_data.grant_purpose('regress_app', 'p_new')},
	'grant new purpose');
run_in($sb, q{SELECT personal_data.label_column('t', 'note', ARRAY['p_new'])},
	'label with new purpose');
is(policy(), 'regress_app|f|p_new|t|t|||', 'and its grant');
is( access('t'),
	"email|{p_a}|error|f\nnote|{p_new}|error|t\nphone|{p_b}|error|f",
	'and a column labelled with it');
check_loads('t', 1, 2, 'define purpose');

run_in($sb, q{SELECT personal_data.unlabel_column('t', 'note')}, 'unlabel note');
run_in($sb, q{SELECT personal_data.drop_purpose('p_new')}, 'drop purpose');
is(policy(), 'regress_app|f|p_new|f|f|||',
	'a dropped purpose (and its grant) is gone at the next statement');
is( access('t'),
	"email|{p_a}|error|f\nphone|{p_b}|error|f",
	'the column unlabelled before the drop is gone');
check_loads('t', 1, 1, 'drop purpose');
run_in($sa, q{SET personal_data.purpose = 'p_a'}, 'SET purpose p_a');

# --- DDL on the table ------------------------------------------------------

run_in($sb, 'ALTER TABLE t RENAME COLUMN note TO remark', 'rename unlabelled');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'renaming an unlabelled column leaves the rules as they were');
check_loads('t', 1, 0, 'rename unlabelled column');

run_in($sb, 'ALTER TABLE t DROP COLUMN id', 'drop unlabelled');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'dropping an unlabelled column leaves the rules as they were');
check_loads('t', 1, 0, 'drop unlabelled column');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, 'ALTER TABLE t RENAME COLUMN email TO mail',
	'rename labelled in open transaction');
is( access('t'),
	"email|{p_a}|error|t\nphone|{p_b}|error|f",
	'a column renamed in an open transaction keeps its old name for A');
run_in($sb, 'COMMIT', 'commit');
is( access('t'),
	"mail|{p_a}|error|t\nphone|{p_b}|error|f",
	'a renamed labelled column keeps its label under its new name');
check_loads('t', 1, 0, 'rename labelled column');

run_in($sb, 'ALTER TABLE t DROP COLUMN phone', 'drop labelled');
is(access('t'), "mail|{p_a}|error|t",
	'a dropped labelled column is gone with its label');
is( run_in($sb,
		q{SELECT count(*) FROM pg_seclabel WHERE objoid = 't'::regclass AND objsubid > 0},
		'count labels'),
	'1',
	'its label went with it');
check_loads('t', 1, 0, 'drop labelled column');

# --- partitions ------------------------------------------------------------

run_in(
	$sb, q{
CREATE TABLE pt (subject text, created date, email text, phone text)
	PARTITION BY RANGE (created);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE pt_3 PARTITION OF pt FOR VALUES FROM ('2022-01-01') TO ('2023-01-01')
	PARTITION BY LIST (subject);
CREATE TABLE pt_3a PARTITION OF pt_3 FOR VALUES IN ('a');
-- columns in another order, and a dropped column: other attnums than pt's
CREATE TABLE pt_2 (dropped int, phone text, email text, created date, subject text);
ALTER TABLE pt_2 DROP COLUMN dropped;
SELECT personal_data.register_table('pt', 'subject', 'created');
SELECT personal_data.label_column('pt', 'email', ARRAY['p_a']);
SELECT personal_data.label_column('pt', 'phone', ARRAY['p_b'], 'null');
}, 'partitioned table');

my $pt_rules = "email|{p_a}|error|t\nphone|{p_b}|null|f";
($t0, $c0) = loads();
is(access('pt'), $pt_rules, 'A sees the rules of the partitioned table');
is(access('pt_1'), $pt_rules, 'a partition shows its root\'s rules');
is(access('pt_3a'), $pt_rules,
	'a partition of a sub-partitioned partition shows its root\'s rules');
is(access('pt_3'), $pt_rules,
	'a partitioned partition shows its root\'s rules');
is(access('pt_2'), '', 'a table not yet attached has no rules');
check_loads('pt_1', 5, 0, 'partitions first use');

run_in($sb,
	q{ALTER TABLE pt ATTACH PARTITION pt_2 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')},
	'attach');
is(access('pt_2'), $pt_rules,
	'an attached partition with its columns in another order shows its root\'s rules');
is( run_in($sb,
		q{SELECT count(*) FROM pg_seclabel WHERE objoid = 'pt_2'::regclass},
		'pt_2 labels'),
	'0',
	'(the partition itself has no labels)');
check_loads('pt_2', 1, 0, 'attach');

run_in($sb, q{SELECT personal_data.label_column('pt', 'email', ARRAY['p_b'], 'null')},
	'relabel root');
my $pt_rules2 = "email|{p_b}|null|f\nphone|{p_b}|null|f";
is(access('pt_2'), $pt_rules2,
	'relabelling the root is seen through the partition\'s entry');
is(access('pt_1'), $pt_rules2, 'and through the other partitions');
is(access('pt_3a'), $pt_rules2, 'and through a sub-partition');
is(access('pt'), $pt_rules2, 'and the root\'s own entry');
check_loads('pt_2', 4, 0, 'relabel root');

run_in($sb, 'BEGIN', 'begin');
run_in($sb, q{SELECT personal_data.unlabel_column('pt', 'phone')},
	'unlabel root column in open transaction');
is(access('pt_2'), $pt_rules2,
	'a root label change in an open transaction is not visible through a partition');
run_in($sb, 'ROLLBACK', 'rollback');
is(access('pt_2'), $pt_rules2, 'nor after its rollback');
check_loads('pt_2', 0, 0, 'root rollback');

# A detached partition takes its root's labels along as its own (the data
# stays under the policy it was collected under), and from then on follows
# only them.
run_in($sb, 'ALTER TABLE pt DETACH PARTITION pt_2', 'detach');
is(access('pt_2'), $pt_rules2,
	'a detached partition keeps the rules it had, as its own labels');
is( run_in($sb,
		q{SELECT count(*) FROM pg_seclabel WHERE objoid = 'pt_2'::regclass},
		'pt_2 labels'),
	'3',
	'(the detached table now has a table label and two column labels)');
check_loads('pt_2', 1, 0, 'detach');
run_in($sb, q{SELECT personal_data.label_column('pt', 'email', ARRAY['p_a'])},
	'relabel root after detach');
is( access('pt_1'),
	"email|{p_a}|error|t\nphone|{p_b}|null|f",
	'relabelling the root is seen through the remaining partition');
is(access('pt_2'), $pt_rules2, 'but not through the detached table');
check_loads('pt_2', 1, 0, 'relabel root after detach');

$sa->quit;
$sb->quit;

$node->safe_psql(
	'postgres', q{
DROP TABLE t, pt, pt_2;
SELECT personal_data.revoke_purpose('regress_app', 'p_a');
SELECT personal_data.revoke_purpose('regress_app_group', 'p_b');
DROP ROLE regress_app, regress_app_group;
});
$node->stop;
done_testing();
