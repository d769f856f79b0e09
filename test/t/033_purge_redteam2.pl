# What a second red-team of the purge worker found, closed (0.6):
#  - a table's code (a trigger's helper its owner may replace) set
#    lock_timeout to 0 and waited, or slept, inside a purge statement: the
#    worker waited with it, and every other database waited too (the
#    launcher serves them in turn), then rested twice as long.  Now each
#    unit of the worker has a statement timeout the table's code cannot
#    change (purge_statement_timeout), a database gets at most ten times that
#    per round (the launcher stops its worker after a grace, even if the
#    table's code catches the cancel), and the rest after a batch is capped.
#  - expired rows a foreign key keeps were invisible: now a LOG line per round.
#  - DEFERRABLE INITIALLY DEFERRED foreign keys referencing a registered
#    table made every purge fail.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('purge_redteam2');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$node->append_conf('postgresql.conf', "personal_data.purge_statement_timeout = '1s'");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE DATABASE other;
});
$node->safe_psql($_, 'CREATE EXTENSION personal_data') for qw(postgres other);

# postgres: a table whose delete trigger calls a helper its owner may replace
$node->safe_psql('postgres', q{
CREATE SCHEMA appx AUTHORIZATION app;
SET ROLE app;
CREATE FUNCTION appx.helper() RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION appx.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM appx.helper(); RETURN OLD; END $$;
CREATE TABLE appx.t_trg (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TRIGGER t BEFORE DELETE ON appx.t_trg FOR EACH ROW EXECUTE FUNCTION appx.trg();
RESET ROLE;
SET client_min_messages = error;
SELECT personal_data.register_table('appx.t_trg', 'subj', 'collected_at', retention => interval '1 day');
});
# other: an ordinary registered table
$node->safe_psql('other', q{
CREATE TABLE t_other (id int PRIMARY KEY, subj text, collected_at timestamptz);
SELECT personal_data.register_table('t_other', 'subj', 'collected_at', retention => interval '1 day');
});

# --- a table's code that waits: canceled, the other database served -------------

$node->safe_psql('postgres', q{
CREATE OR REPLACE FUNCTION appx.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('lock_timeout', '0', true);
	PERFORM set_config('statement_timeout', '0', true);
	PERFORM pg_sleep(3600);
END $$;
INSERT INTO appx.t_trg VALUES (1, 'a', now() - interval '2 days');
}, extra_params => [ '-U', 'app' ]);
my $log_offset = -s $node->logfile;
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
	 WHERE backend_type = 'personal_data purge' AND wait_event = 'PgSleep'}),
	'the table\'s code sleeps inside a purge statement');
my $t0 = time;
$node->safe_psql('other', q{INSERT INTO t_other VALUES (1, 'o', now() - interval '2 days')});
ok($node->poll_query_until('other', q{SELECT count(*) = 0 FROM t_other}),
	'the other database is purged meanwhile');
cmp_ok(time - $t0, '<', 15, 'within seconds, not when the sleep ends');
ok($node->wait_for_log(qr/canceling statement due to statement timeout/, $log_offset),
	'the statement is canceled by the worker\'s own timeout, which the table\'s code cannot change');
is($node->safe_psql('postgres', 'SELECT count(*) FROM appx.t_trg'), '1',
	'the row waits for a round whose trigger returns in time');

# --- a table's code that catches the cancel: the launcher stops the worker --------

$node->safe_psql('postgres', q{
CREATE OR REPLACE FUNCTION appx.helper() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	LOOP
		BEGIN
			PERFORM pg_sleep(3600);
		EXCEPTION WHEN query_canceled THEN
			NULL;	-- and on
		END;
	END LOOP;
END $$;
}, extra_params => [ '-U', 'app' ]);
$log_offset = -s $node->logfile;
ok($node->wait_for_log(qr/stopping the purge of database \d+: it ran longer than 13000 ms/, $log_offset),
	'the launcher stops a worker that ran past its share and the grace');
$t0 = time;
$node->safe_psql('other', q{INSERT INTO t_other VALUES (2, 'o', now() - interval '2 days')});
ok($node->poll_query_until('other', q{SELECT count(*) = 0 FROM t_other}),
	'the other database is still served');
cmp_ok(time - $t0, '<', 30, 'within one share of the misbehaving database');

# the owner fixes the helper: the row goes
$node->safe_psql('postgres', q{CREATE OR REPLACE FUNCTION appx.helper() RETURNS void LANGUAGE sql AS 'SELECT'},
	extra_params => [ '-U', 'app' ]);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM appx.t_trg}),
	'once the trigger returns in time, the row is purged');

# --- rows a foreign key keeps are logged, each round -------------------------------

$log_offset = -s $node->logfile;
$node->safe_psql('other', q{
CREATE TABLE t_kept (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE t_keeper (id int REFERENCES t_kept(id));
SELECT personal_data.register_table('t_kept', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO t_kept VALUES (1, 'k', now() - interval '2 days'), (2, 'k2', now() - interval '2 days');
INSERT INTO t_keeper VALUES (1);
});
ok($node->wait_for_log(qr/public\.t_kept: 1 expired row\(s\) kept/, $log_offset),
	'an expired row a foreign key keeps is reported');
is($node->safe_psql('other', 'SELECT id FROM t_kept'), '1', 'the other row is purged');

# --- an INITIALLY DEFERRED foreign key does not stop the worker ---------------------

$node->safe_psql('other', q{
CREATE TABLE t_orm (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE t_orm_ref (id int REFERENCES t_orm(id) DEFERRABLE INITIALLY DEFERRED);
SELECT personal_data.register_table('t_orm', 'subj', 'collected_at', retention => interval '1 day');
INSERT INTO t_orm VALUES (1, 'o1', now() - interval '2 days'), (2, 'o2', now() - interval '2 days');
INSERT INTO t_orm_ref VALUES (2);
});
ok($node->poll_query_until('other', q{SELECT count(*) = 1 FROM t_orm}),
	'an INITIALLY DEFERRED foreign key: the unreferenced row is purged');
is($node->safe_psql('other', 'SELECT id FROM t_orm'), '2', 'the referenced row is kept');

$node->stop;
done_testing();
