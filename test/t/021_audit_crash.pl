# The audit's crash guarantees (issue #4): after a kill -9 of a backend or
# of the audit writer, the postmaster restarts everything; the entries the
# writer committed survive and the chain still verifies.
#  - default settings: entries older than the flush interval (200 ms; 1 s
#    allowed here) at the crash are all there;
#  - the writer killed while pgbench runs: the entries of the statements that
#    completed more than 1 s before the kill are there;
#  - audit_sync = on: every statement that returned before the crash has its
#    entry.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('audit_crash');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->append_conf('postgresql.conf', "restart_after_crash = on");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
CREATE TABLE people (id int PRIMARY KEY, subject text NOT NULL, name text);
INSERT INTO people VALUES (1, 's1', 'Ann'), (2, 's2', 'Bo'), (3, 's3', 'Cy');
SELECT personal_data.define_purpose('p_contract', 'customer');
SELECT personal_data.register_table('people', 'subject');
SELECT personal_data.label_column('people', 'name', ARRAY['p_contract']);
CREATE ROLE regress_app LOGIN;
GRANT SELECT ON people TO regress_app;
SELECT personal_data.grant_purpose('regress_app', 'p_contract');
ALTER ROLE regress_app SET personal_data.purpose = 'p_contract';
});

sub sql
{
	return $node->safe_psql('postgres', $_[0]);
}

# highest id of the chain, once every queued entry is written
sub mark
{
	sql('SELECT personal_data.audit_flush()');
	return sql(
		q{SELECT coalesce(max(id), 0)
  FROM (SELECT max(id) AS id FROM personal_data.access_log
		UNION ALL SELECT max(id) FROM personal_data.disclosure_log) m});
}

sub verify
{
	sql('SELECT personal_data.audit_flush()');
	return sql(
		q{SELECT v.ok || '|' || (v.checked = (SELECT count(*) FROM personal_data.access_log) + (SELECT count(*) FROM personal_data.disclosure_log)) || '|' || coalesce(v.first_bad_id::text, '-')
  FROM personal_data.verify_audit_log() v});
}

# entries of regress_app's reads of people after $mark
sub app_entries
{
	my ($mark, $extra) = @_;
	$extra //= '';
	return sql(
		"SELECT count(*) FROM personal_data.access_log WHERE id > $mark AND current_user_name = 'regress_app' AND relation = 'public.people' $extra"
	);
}

# kill -9 $pid, then waits for the postmaster to have restarted everything
sub crash
{
	my ($pid, $what) = @_;
	my $offset = -s $node->logfile;
	ok(kill('KILL', $pid), "$what: kill -9 $pid");
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die "the server did not come back";
	ok( $node->log_contains(qr/\(PID $pid\) was terminated by signal 9/, $offset),
		"$what: the postmaster saw the crash and restarted");
}

# a pgbench run in the background, as regress_app: (harness, \stdout, \stderr)
my $script = $node->basedir . '/021_audit_read.sql';
append_to_file($script, "\\set id random(1, 3)\nSELECT name FROM people WHERE id = :id;\n");

sub start_pgbench
{
	my @opts = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-M', 'prepared', @opts, '-f', $script,
			'-h', $node->host, '-p', $node->port, '-U', 'regress_app',
			'postgres'
		],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# completion times (epoch seconds) of the transactions in pgbench's -l logs
sub pgbench_completions
{
	my ($prefix) = @_;
	my @times;
	for my $file (glob("$prefix.*"))
	{
		for my $line (split /\n/, slurp_file($file))
		{
			my @f = split / /, $line;
			push @times, $f[4] + $f[5] / 1e6 if @f >= 6;
		}
	}
	return @times;
}

sub wait_for_writer
{
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		my $pid = sql(
			q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'personal_data audit writer' AND datname = 'postgres'}
		);
		return $pid if $pid ne '';
		usleep(20_000);
	}
	return '';
}

# --- default settings: a backend killed 1.5 s after the statements ---------------

my $m = mark();
my ($ret, $out, $err) = $node->psql('postgres',
	join('', map { "SELECT name FROM people WHERE id = " . (1 + $_ % 3) . ";\n" } 1 .. 50),
	extra_params => [ '-U', 'regress_app' ]);
is($ret, 0, 'default: 50 reads ran');
my $done_at = time();
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
usleep(50_000) while time() < $done_at + 1.5;
crash($vpid, 'default');
eval { $victim->quit; };
is(app_entries($m), '50',
	'default: every entry older than 1 s at the crash is in the log');
is(verify(), 'true|true|-', 'default: the chain verifies after the crash');

# --- the writer killed mid-stream ------------------------------------------------

$m = mark();
my $prefix = $node->basedir . '/021_writer_kill';
my ($bench, $bout, $berr) =
  start_pgbench('-c', '2', '-j', '1', '-R', '1000', '-T', '8', '-l', "--log-prefix=$prefix");
my $started = time();
my $wpid = wait_for_writer();
isnt($wpid, '', 'writer kill: the audit writer runs while pgbench does');
usleep(50_000) while time() < $started + 2.5;
$wpid = wait_for_writer();
my $kill_at = time();
crash($wpid, 'writer kill');
$bench->finish;
my @completed = pgbench_completions($prefix);
my $old = grep { $_ < $kill_at - 1 } @completed;
note scalar(@completed) . " transactions completed, $old more than 1 s before the kill";
cmp_ok($old, '>', 500, 'writer kill: pgbench ran statements before the kill');
my $logged_old = app_entries($m,
	sprintf("AND logged_at < to_timestamp(%.6f)", $kill_at - 1));
note "writer kill: $logged_old entries stamped more than 1 s before the kill, "
  . app_entries($m) . ' in all';
# an entry is stamped when its statement starts: the statements started
# before kill - 1 s include those completed by then, plus at most one
# in flight per client
cmp_ok($logged_old, '>=', $old,
	'writer kill: every statement completed more than 1 s before the kill has its entry');
cmp_ok($logged_old, '<=', $old + 2,
	'writer kill: and no more (at most one in flight per client)');
is(verify(), 'true|true|-', 'writer kill: the chain verifies after the crash');
my $after = mark();
sql('SELECT count(*) FROM people');
cmp_ok(mark(), '>', $after, 'writer kill: a new writer logs new statements');

# --- audit_sync = on: a backend killed while pgbench runs ---------------------------

sql('ALTER SYSTEM SET personal_data.audit_sync = on');
$node->reload;
is($node->safe_psql('postgres', 'SHOW personal_data.audit_sync', extra_params => [ '-U', 'regress_app' ]),
	'on', 'sync: audit_sync is on');
$m = mark();
($bench, $bout, $berr) = start_pgbench('-c', '2', '-j', '1', '-T', '8');
$started = time();
usleep(50_000) while time() < $started + 2;
my $bpid = sql(
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = 'regress_app' ORDER BY pid LIMIT 1}
);
isnt($bpid, '', 'sync: a pgbench backend runs');
crash($bpid, 'sync');
$bench->finish;
my ($acked) = $$bout =~ /number of transactions actually processed: (\d+)/;
$acked //= -1;
note "sync: $acked statements acknowledged";
cmp_ok($acked, '>', 100, 'sync: pgbench ran statements before the crash');
my $logged = app_entries($m);
note "sync: $logged entries";
# a statement whose entry was committed may have been killed before its
# result reached the client: at most one per client
cmp_ok($logged, '>=', $acked,
	'sync: every statement acknowledged before the crash has its entry');
cmp_ok($logged, '<=', $acked + 2,
	'sync: and no more (at most one in flight per client)');
is(verify(), 'true|true|-', 'sync: the chain verifies after the crash');
sql('ALTER SYSTEM RESET personal_data.audit_sync');
$node->reload;

$node->stop;
done_testing();
