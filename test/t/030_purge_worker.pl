# The purge worker (DESIGN.md §5): expired rows leave with no manual call, in
# every database with the extension; held rows stay; each run is in
# purge_log; the worker shows its state in pg_stat_activity; SIGHUP applies
# new settings, SIGTERM stops it at once, the launcher comes back;
# DROP DATABASE is never kept waiting; DROP/CREATE EXTENSION while it runs;
# a manual purge_expired() and the worker never purge one table at once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('purge_worker');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->start;

# a registered table of $n rows, one in five collected 60 days ago (retention 30 days)
sub make_table
{
	my ($db, $table, $n) = @_;
	$node->safe_psql(
		$db, qq{
CREATE TABLE $table (id int PRIMARY KEY, subject text NOT NULL, name text, collected timestamptz);
INSERT INTO $table SELECT g, 's' || g, 'n' || g,
	CASE WHEN g % 5 = 0 THEN now() - interval '60 days' ELSE now() END
  FROM generate_series(1, $n) g;
ANALYZE $table;
SELECT personal_data.register_table('$table', 'subject', collected_at_column => 'collected');
SELECT personal_data.label_column('$table', 'name', ARRAY['pw_month']);
});
}

sub install
{
	my ($db) = @_;
	$node->safe_psql(
		$db, q{
CREATE EXTENSION personal_data;
SELECT personal_data.define_purpose('pw_month', 'customer', 'kept a month', retention => '30 days');
});
}

sub set_and_reload
{
	my ($setting, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET personal_data.$setting = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# waits for a purge_log row of table slow newer than $after, still running
sub wait_slow_run
{
	my ($after, $what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 1 FROM personal_data.purge_log WHERE relation = 'public.slow'"
			  . " AND finished_at IS NULL AND id > $after"),
		$what);
}

sub last_log_id
{
	return $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM personal_data.purge_log');
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'personal_data purge'});
}

# --- purges with no manual call, in two databases --------------------------------

for my $db ('postgres', 'second')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db") if $db ne 'postgres';
	install($db);
	# the hold first: the worker may visit the table as soon as it is registered
	$node->safe_psql($db, q{SELECT personal_data.place_hold('s10', 'kept for a case') > 0});
	make_table($db, 'pw', 1000);
}
# a database without the extension is visited too, and left alone
$node->safe_psql('postgres', 'CREATE DATABASE bystander');

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'the launcher runs');
for my $db ('postgres', 'second')
{
	ok($node->poll_query_until($db, q{SELECT count(*) = 801 FROM pw}),
		"$db: the 199 expired rows (of 200, one held) leave with no manual call");
	is($node->safe_psql($db, q{SELECT count(*) FROM pw WHERE id = 10}), '1', "$db: the held row stays");
	ok( $node->poll_query_until(
			$db,
			q{SELECT count(*) = 1 FROM personal_data.purge_log
			   WHERE relation = 'public.pw' AND purged = 199 AND held = 1 AND finished_at IS NOT NULL
				 AND started_by = 'personal_data purge worker' AND NOT dry_run}),
		"$db: the run is in purge_log");
}
sleep(3);
is($node->safe_psql('postgres', q{SELECT count(*) FROM personal_data.purge_log}),
	'1', 'runs that find only the same held row again add no row to purge_log');
$node->safe_psql('postgres', q{UPDATE personal_data.holds SET released_at = now() WHERE subject = 's10'});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 800 FROM pw}),
	'a released hold: the row leaves at the next run');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT purged = 1 AND held = 0 FROM personal_data.purge_log ORDER BY id DESC LIMIT 1}),
	'... and that run is logged');
unlike(slurp_file($node->logfile), qr/ERROR|FATAL/, 'no error in the server log so far');

# --- SIGHUP: a new naptime applies at once ----------------------------------------

set_and_reload('purge_naptime', '1h');
sleep(2);    # the launcher's round in progress ends
$node->safe_psql('postgres',
	q{INSERT INTO pw SELECT g, 's' || g, 'n', now() - interval '60 days' FROM generate_series(2001, 2010) g});
sleep(3);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pw WHERE id > 2000}),
	'10', 'naptime 1h (reloaded): expired rows wait');
set_and_reload('purge_naptime', '1s');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pw WHERE id > 2000}),
	'naptime 1s (reloaded): they leave');

# --- a slow purge: pg_stat_activity, SIGHUP and SIGTERM of the purge worker ------

# 20000 rows of ~400 bytes (about 18 rows a block), a batch of 50 rows: ~3 blocks
make_table('postgres', 'slow', 0);
# the throttle first: the worker may visit the rows as soon as they are in
set_and_reload('purge_batch_size', '50');
set_and_reload('purge_delay', '1min');
$node->safe_psql(
	'postgres', q{
INSERT INTO slow SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series(1, 20000) g;
ANALYZE slow;
});
my $pid;
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'personal_data purge' AND wait_event = 'Extension' AND state = 'idle'
			 AND EXISTS (SELECT 1 FROM personal_data.purge_log WHERE relation = 'public.slow')}),
	'pg_stat_activity: the purge worker rests between batches (state idle, wait event Extension)');
$pid = worker_pid();
my $done = $node->safe_psql('postgres', q{SELECT 20000 - count(*) FROM slow});
cmp_ok($done, '>', 0, "a first batch committed ($done rows)");
cmp_ok($done, '<', 200, 'batches are small (purge_batch_size 50)');
is( $node->safe_psql('postgres',
		q{SELECT purged FROM personal_data.purge_log WHERE relation = 'public.slow' AND finished_at IS NULL}),
	$done,
	'purge_log counts exactly what the committed batches deleted, while the run goes on');

# SIGHUP: the worker applies purge_delay 0 at once, no minute's wait
my $t0 = time();
set_and_reload('purge_delay', '0');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM slow}),
	'SIGHUP: the resting worker applies purge_delay 0 and finishes');
cmp_ok(time() - $t0, '<', 60, 'well before the old delay would have let it');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT purged = 20000 AND finished_at IS NOT NULL FROM personal_data.purge_log WHERE relation = 'public.slow'}),
	'the run is finished in purge_log with every row counted');

# SIGTERM of the purge worker: it stops at once (its batch rolls back); the next run goes on
my $last = last_log_id();
set_and_reload('purge_delay', '1min');
$node->safe_psql(
	'postgres', q{
INSERT INTO slow SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series(1, 20000) g;
});
wait_slow_run($last, 'a second slow run starts');
$pid = worker_pid();
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'SIGTERM: the purge worker leaves');
cmp_ok(time() - $t0, '<', 10, '... at once, not after its minute of rest');
is( $node->safe_psql('postgres',
		"SELECT purged = 20000 - (SELECT count(*) FROM slow) FROM personal_data.purge_log
		   WHERE relation = 'public.slow' AND finished_at IS NULL AND id > $last"),
	't', 'the interrupted run is logged with what it did (finished_at NULL)');
set_and_reload('purge_delay', '0');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM slow}),
	'the next run purges the rest');

# --- SIGTERM of the launcher: it stops, and the postmaster starts it again -------

my $lpid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($lpid)");
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $lpid"),
	'SIGTERM: the launcher stops');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'the postmaster starts it again (bgw_restart_time)');
$node->safe_psql('postgres',
	q{INSERT INTO pw SELECT g, 's' || g, 'n', now() - interval '60 days' FROM generate_series(3001, 3010) g});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pw WHERE id > 3000}),
	'the new launcher purges');

# --- one purge of a table at a time -----------------------------------------------

# a manual purge holds the table until its transaction ends: the worker skips it
my $manual = $node->background_psql('postgres');
$manual->query_safe('BEGIN');
$manual->query_safe(q{SELECT * FROM personal_data.purge_expired('pw', dry_run => true)});
$node->safe_psql('postgres',
	q{INSERT INTO pw SELECT g, 's' || g, 'n', now() - interval '60 days' FROM generate_series(4001, 4010) g});
sleep(3);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pw WHERE id > 4000}),
	'10', 'the worker leaves a table a manual purge holds');
$manual->query_safe('COMMIT');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pw WHERE id > 4000}),
	'... and purges it once that purge ends');

# the worker holds a table for its whole run: a manual purge waits for it
$last = last_log_id();
set_and_reload('purge_delay', '1min');
$node->safe_psql(
	'postgres', q{
INSERT INTO slow SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series(1, 20000) g;
});
wait_slow_run($last, 'a slow run starts');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '1s'; SELECT * FROM personal_data.purge_expired('slow')});
like($err, qr/canceling statement due to lock timeout/,
	'a manual purge of the table the worker is purging waits for it');

# --- DROP EXTENSION and CREATE EXTENSION while the worker runs -----------------

$pid = worker_pid();
$node->safe_psql('postgres', 'DROP EXTENSION personal_data CASCADE');
set_and_reload('purge_delay', '0');    # wakes the worker: its next batch finds no extension
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'DROP EXTENSION while the worker rests: the worker leaves');
like(slurp_file($node->logfile), qr/ERROR:  function personal_data._purge_range\(.*\) does not exist/,
	'... reporting why');
my $left = $node->safe_psql('postgres', 'SELECT count(*) FROM slow');
sleep(3);
is($node->safe_psql('postgres', 'SELECT count(*) FROM slow'), $left,
	'without the extension nothing is purged');
# the labels (security labels) outlived the extension: the table is registered again
install('postgres');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM slow}),
	'CREATE EXTENSION again: the worker purges again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'1', 'the launcher lived through it');

# --- purge_expired() refuses an older snapshot than its own ----------------------

($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM personal_data.purge_expired('pw'); COMMIT});
like($err, qr/ERROR:  purge_expired\(\) must run in a READ COMMITTED transaction/,
	'REPEATABLE READ: refused (its snapshot may predate a hold)');
($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM personal_data.purge_expired('pw', dry_run => true); COMMIT});
is($ret, 0, '... a dry run is allowed');

# --- DROP DATABASE of a database being purged -------------------------------------

set_and_reload('purge_delay', '1min');
$node->safe_psql('second',
	q{INSERT INTO pw SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series(10001, 30000) g});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		   WHERE a.backend_type = 'personal_data purge' AND d.datname = 'second'}),
	'a slow purge of database "second" runs');
$t0 = time();
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE second');
is($ret, 0, 'DROP DATABASE of the database being purged') or diag($err);
cmp_ok(time() - $t0, '<', 10, '... is not kept waiting');
set_and_reload('purge_delay', '10ms');
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', "CREATE DATABASE dropme");
	install('dropme');
	make_table('dropme', 'pw', 1000);
	sleep(1);
	($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE dropme');
	is($ret, 0, "DROP DATABASE of a purged database, try $i") or diag($err);
}

# --- fast shutdown during a purge -------------------------------------------------

set_and_reload('purge_delay', '1min');
$node->safe_psql(
	'postgres', q{
INSERT INTO slow SELECT g, 's' || g, repeat('x', 400), now() - interval '60 days' FROM generate_series(1, 20000) g;
});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge'}),
	'a purge runs');
$t0 = time();
$node->stop('fast');
cmp_ok(time() - $t0, '<', 10, 'a fast shutdown does not wait for the purge');
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/, 'no crash in the server log');
done_testing();
