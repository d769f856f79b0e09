# What a red-team of the purge worker found, closed (0.4):
#  - the worker (a superuser) ran a table owner's code: a cast on the subject
#    type made the owner a superuser.  It now runs as the table's owner.
#  - a lock held in one database (idle in transaction) stopped purging in
#    every database; SIGTERM did not interrupt the worker's lock wait, and a
#    prepared transaction's lock hung a fast shutdown.
#  - DateStyle and TimeZone set on the database (by its owner) moved the
#    cutoff: rows not expired were purged, a partition of them dropped.
#  - any role could hold the table's purge lock (an advisory lock).
#  - the worker would run 0.3's functions (which have these holes): it leaves
#    a database at 0.3 alone, with a warning.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('purge_redteam');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$node->append_conf('postgresql.conf', "max_prepared_transactions = 2");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE nobody LOGIN;
CREATE DATABASE other OWNER app;
CREATE DATABASE old;
});
$node->safe_psql($_, 'CREATE EXTENSION personal_data') for qw(postgres other);

# a registered table of the database, retention a day
sub make_table
{
	my ($db, $table, $owner) = @_;
	$node->safe_psql(
		$db, qq{
CREATE TABLE $table (id int PRIMARY KEY, subj text, collected_at timestamptz);
ALTER TABLE $table OWNER TO $owner;
SELECT personal_data.register_table('$table', 'subj', 'collected_at', retention => interval '1 day');
});
}

# --- the worker runs a table's code as the table's owner ------------------------

$node->safe_psql('postgres', q{
CREATE SCHEMA appx AUTHORIZATION app;
SET ROLE app;
CREATE TYPE appx.kind AS ENUM ('k1', 'k2');
CREATE TABLE appx.t_cast (id int PRIMARY KEY, subj appx.kind, collected_at timestamptz);
CREATE TABLE appx.ran (who text, superuser boolean);
CREATE FUNCTION appx.helper() RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION appx.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM appx.helper(); RETURN OLD; END $$;
CREATE TABLE appx.t_trg (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TRIGGER t BEFORE DELETE ON appx.t_trg FOR EACH ROW EXECUTE FUNCTION appx.trg();
RESET ROLE;
SET client_min_messages = error;
SELECT personal_data.register_table('appx.t_cast', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('appx.t_trg', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.place_hold('k2', 'any hold');
});
# from here on, only what the table owner may do
$node->safe_psql('postgres', q{
CREATE FUNCTION appx.escalate(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO appx.ran SELECT what || ':' || current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE app SUPERUSER';
	END IF;
END $$;
CREATE FUNCTION appx.kind_to_text(appx.kind) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM appx.escalate('cast'); RETURN $1::name::text; END $$;
CREATE CAST (appx.kind AS text) WITH FUNCTION appx.kind_to_text(appx.kind);
CREATE OR REPLACE FUNCTION appx.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN PERFORM appx.escalate('trigger'); END $$;
INSERT INTO appx.t_cast VALUES (1, 'k1', now() - interval '2 days'), (2, 'k2', now() - interval '2 days');
INSERT INTO appx.t_trg VALUES (1, 'a', now() - interval '2 days');
}, extra_params => [ '-U', 'app' ]);
ok( $node->poll_query_until(
		'postgres', q{SELECT (SELECT count(*) FROM appx.t_cast) = 1 AND (SELECT count(*) FROM appx.t_trg) = 0}),
	'the worker purges the tables of a role that is not a superuser');
is($node->safe_psql('postgres', q{SELECT string_agg(who || '|' || superuser, ',') FROM appx.ran}),
	'trigger:app|false', "the table's trigger ran as its owner; the cast never ran");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'app'}),
	'f', 'the owner is no superuser');
is($node->safe_psql('postgres', q{SELECT subj FROM appx.t_cast}), 'k2', 'the held row stays');

# --- a lock held in one database: the others are purged; SIGTERM ends the wait --

make_table('postgres', 't_lock', 'app');
make_table('other', 't_other', 'app');
$node->safe_psql('postgres', q{INSERT INTO t_lock VALUES (1, 'a', now() - interval '2 days')});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT id FROM t_lock WHERE id = 1 FOR UPDATE');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
					   WHERE backend_type = 'personal_data purge' AND wait_event_type = 'Lock'}),
	'the worker waits for the row lock');
$node->safe_psql('other', q{INSERT INTO t_other VALUES (1, 'b', now() - interval '2 days')});
ok($node->poll_query_until('other', q{SELECT count(*) = 0 FROM t_other}),
	'the other database is purged all the same (the wait times out)');
like(slurp_file($node->logfile), qr/ERROR:  canceling statement due to lock timeout/,
	'the lock timeout is in the server log');

my $pid;
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
					   WHERE backend_type = 'personal_data purge' AND wait_event_type = 'Lock'}),
	'the worker waits for the row lock again');
$pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'personal_data purge' AND wait_event_type = 'Lock'});
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'SIGTERM: the worker leaves its lock wait');
cmp_ok(time() - $t0, '<', 4, '... at once, not at the lock timeout (5 s)');
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM t_lock}),
	'the row goes once its lock is released');

# --- any role can take an advisory lock: the purge's lock is not one of them ------

$node->safe_psql('postgres', q{INSERT INTO t_lock VALUES (2, 'a', now() - interval '2 days')});
my $squatter = $node->background_psql('postgres', extra_params => [ '-U', 'nobody' ]);
$squatter->query_safe(
	q{SELECT pg_advisory_lock((1346654279::bigint << 32) | 't_lock'::regclass::oid::bigint)});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM t_lock}),
	'an advisory lock on the old key does not stop the purge');
$squatter->quit;

# --- the database's DateStyle and TimeZone do not move the cutoff ----------------

$node->safe_psql('other', q{
CREATE TABLE ev (subj text, collected_at timestamptz NOT NULL) PARTITION BY RANGE (collected_at);
DO $$
DECLARE
	b1 timestamptz := date_trunc('hour', now() - interval '1 day' - interval '2 hours');
	b2 timestamptz := date_trunc('hour', now() - interval '1 day' + interval '6 hours');
BEGIN
	EXECUTE format('CREATE TABLE ev_old PARTITION OF ev FOR VALUES FROM (%L) TO (%L)', '2000-01-01', b1);
	EXECUTE format('CREATE TABLE ev_recent PARTITION OF ev FOR VALUES FROM (%L) TO (%L)', b1, b2);
	EXECUTE format('CREATE TABLE ev_now PARTITION OF ev FOR VALUES FROM (%L) TO (MAXVALUE)', b2);
END $$;
ALTER TABLE ev OWNER TO app;
SELECT personal_data.register_table('ev', 'subj', 'collected_at', retention => interval '1 day');
});
# the database owner, no superuser
$node->safe_psql('other', q{
ALTER DATABASE other SET datestyle = 'Postgres, MDY';
ALTER DATABASE other SET timezone = 'Asia/Shanghai';
}, extra_params => [ '-U', 'app' ]);
$node->safe_psql('other', q{
INSERT INTO t_other VALUES (2, 'a', now() - interval '1 day' - interval '1 hour'),
						   (3, 'b', now() - interval '1 day' + interval '1 hour'),
						   (4, 'c', now() - interval '1 day' + interval '10 hours');
INSERT INTO ev VALUES ('x', now() - interval '1 day' - interval '3 hours'),
					  ('y', now() - interval '1 day' + interval '3 hours'),
					  ('z', now());
});
ok( $node->poll_query_until(
		'other', q{SELECT (SELECT count(*) FROM t_other) = 2 AND (SELECT count(*) FROM ev) = 2}),
	'DateStyle Postgres, TimeZone Asia/Shanghai: the expired rows go');
sleep(2);
is($node->safe_psql('other', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t_other}),
	'3,4', '... and only they');
is($node->safe_psql('other', q{SELECT string_agg(subj || ':' || tableoid::regclass, ',' ORDER BY subj) FROM ev}),
	'y:ev_recent,z:ev_now', 'the partition of rows not expired stays');
is($node->safe_psql('other', q{SELECT partitions_dropped FROM personal_data.purge_log WHERE relation = 'public.ev'}),
	'{public.ev_old}', 'the expired partition is dropped');

# --- the database's settings cannot stop or change the worker's purge ------------

$node->safe_psql('other', q{
ALTER DATABASE other SET default_transaction_read_only = on;
ALTER DATABASE other SET default_transaction_isolation = 'serializable';
}, extra_params => [ '-U', 'app' ]);
$node->safe_psql('other',
	q{SET default_transaction_read_only = off; INSERT INTO t_other VALUES (5, 'd', now() - interval '2 days')});
ok($node->poll_query_until('other', q{SELECT count(*) = 0 FROM t_other WHERE id = 5}),
	'read-only and serializable transactions by default on the database: the worker purges as usual');
$node->safe_psql('other', 'SET default_transaction_read_only = off; ALTER DATABASE other RESET ALL',
	extra_params => [ '-U', 'app' ]);

# --- a fast shutdown while the worker waits for a prepared transaction's lock -----

$node->safe_psql('postgres', q{
INSERT INTO t_lock VALUES (3, 'a', now() - interval '2 days');
BEGIN;
SELECT id FROM t_lock WHERE id = 3 FOR UPDATE;
PREPARE TRANSACTION 'holds_a_row';
});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
					   WHERE backend_type = 'personal_data purge' AND wait_event_type = 'Lock'}),
	'the worker waits for the prepared transaction');
$t0 = time();
$node->stop('fast');
cmp_ok(time() - $t0, '<', 10, 'a fast shutdown does not wait for it');
$node->start;
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'holds_a_row'});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM t_lock}),
	'after the restart, the row goes');

# --- a database at 0.3 is left alone --------------------------------------------

$node->safe_psql('old', q{
CREATE EXTENSION personal_data VERSION '0.3';
CREATE TABLE t_old (id int PRIMARY KEY, subj text, collected_at timestamptz);
SELECT personal_data.register_table('t_old', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO t_old VALUES (1, 'a', now() - interval '2 days');
});
my $warned = 0;
for (1 .. 100)
{
	if (slurp_file($node->logfile) =~
		/WARNING:  personal_data purge: database "old" is not purged: personal_data 0.3 is too old/)
	{
		$warned = 1;
		last;
	}
	sleep(0.1);
}
ok($warned, 'a database at 0.3: the worker warns');
is($node->safe_psql('old', 'SELECT count(*) FROM t_old'), '1', '... and does not purge it');
$node->safe_psql('old', 'ALTER EXTENSION personal_data UPDATE');
ok($node->poll_query_until('old', q{SELECT count(*) = 0 FROM t_old}), 'updated: it is purged');

$node->stop;
done_testing();
