# The purge worker through a crash and on a standby (DESIGN.md §5):
#  - kill -9 of the purge worker mid-run: the cluster restarts, the launcher
#    with it, the purge finishes, and purge_log counts exactly the rows
#    deleted (each batch logs itself in its own transaction);
#  - a hot standby runs no purge (its launcher starts only when recovery
#    has finished), the primary's purges replicate to it, and once promoted
#    it purges by itself.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('purge_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$primary->append_conf('postgresql.conf', "restart_after_crash = on");
$primary->append_conf('postgresql.conf', "autovacuum = off");
$primary->start;

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
SELECT personal_data.define_purpose('pc_month', 'customer', 'kept a month', retention => '30 days');
CREATE TABLE pc (id int PRIMARY KEY, subject text NOT NULL, name text, collected timestamptz);
SELECT personal_data.register_table('pc', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('pc', 'name', ARRAY['pc_month']);
});

sub add_rows
{
	my ($node, $from, $to) = @_;
	$node->safe_psql('postgres',
		"INSERT INTO pc SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series($from, $to) g; ANALYZE pc");
}

sub set_and_reload
{
	my ($node, $setting, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET personal_data.$setting = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# --- kill -9 of the purge worker mid-run ------------------------------------------

set_and_reload($primary, 'purge_batch_size', '50');
set_and_reload($primary, 'purge_delay', '1min');
add_rows($primary, 1, 20000);
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM personal_data.purge_log WHERE finished_at IS NULL AND purged > 0}),
	'a slow purge runs');
my $pid = $primary->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'personal_data purge'});
my $offset = -s $primary->logfile;
ok(kill('KILL', $pid), "kill -9 of the purge worker ($pid)");
$primary->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
$primary->poll_query_until('postgres', 'SELECT 1', '1') or die 'the server did not come back';
ok( $primary->log_contains(qr/\(PID $pid\) was terminated by signal 9/, $offset),
	'the postmaster saw the crash and restarted the cluster');
is( $primary->safe_psql('postgres',
		q{SELECT sum(purged) = 20000 - (SELECT count(*) FROM pc) FROM personal_data.purge_log}),
	't', 'after the crash, purge_log counts exactly the rows gone');
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'the launcher is back');
set_and_reload($primary, 'purge_delay', '0');
ok($primary->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pc}),
	'the purge finishes after the restart');
is($primary->safe_psql('postgres', q{SELECT sum(purged) FROM personal_data.purge_log}),
	'20000', 'purge_log: every row counted once, across the crash');

# --- a hot standby ---------------------------------------------------------------

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('purge_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

add_rows($primary, 30001, 30100);
ok($primary->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pc}),
	'the primary purges');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pc}), '0',
	'the purge replicates to the standby');
sleep(2);    # two naptimes
is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'personal_data purge%'}),
	'0', 'no purge launcher or worker on the hot standby');

# rows expired on the standby's side stay until promotion
$primary->safe_psql('postgres', "ALTER SYSTEM SET personal_data.purge_naptime = '1h'");
$primary->safe_psql('postgres', 'SELECT pg_reload_conf()');
sleep(2);    # the primary's round in progress ends
add_rows($primary, 40001, 40100);
$primary->wait_for_catchup($standby);
$primary->stop;
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pc}), '100',
	'expired rows on the standby: nothing purges them there');

$standby->promote;
ok( $standby->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'promoted: the launcher starts');
ok($standby->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pc}),
	'promoted: it purges');
ok( $standby->poll_query_until(
		'postgres',
		q{SELECT count(*) > 0 FROM personal_data.purge_log WHERE purged = 100 AND finished_at IS NOT NULL}),
	'... and logs the run');
$standby->stop;
done_testing();
