# What a third red-team of the purge worker found, closed (0.6):
#  - a table whose every purge statement stays just under the statement
#    timeout used up its database's share each round, and the tables after it
#    (by name) were never purged: the worker now starts each round at a random
#    table, and each table's walk at a random block (wrapping around).
#  - a database owner's ALTER DATABASE ... SET enable_tidscan = off made every
#    batch read the whole table: the worker sets the planner's settings it
#    relies on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('purge_redteam3');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$node->append_conf('postgresql.conf', "personal_data.purge_statement_timeout = '1s'");
$node->append_conf('postgresql.conf', "autovacuum = off");
# small batches: the slow table's walk (60 batches of 0.9 s) outlasts the share (10 s)
$node->append_conf('postgresql.conf', "personal_data.purge_batch_size = 1000");
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE carol LOGIN;
CREATE DATABASE owned OWNER app;
CREATE EXTENSION personal_data;
});

# --- a slow table first by name does not starve the others ------------------------

$node->safe_psql('postgres', q{
CREATE SCHEMA appx AUTHORIZATION app;
SET ROLE app;
CREATE TABLE appx.aaa (id int, subj text, collected_at timestamptz);
CREATE FUNCTION appx.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.9); RETURN NULL; END $$;
CREATE FUNCTION appx.keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER s BEFORE DELETE ON appx.aaa FOR EACH STATEMENT EXECUTE FUNCTION appx.slow();
CREATE TRIGGER r BEFORE DELETE ON appx.aaa FOR EACH ROW EXECUTE FUNCTION appx.keep();
INSERT INTO appx.aaa SELECT g, 's' || g, now() - interval '2 days' FROM generate_series(1, 60000) g;
ANALYZE appx.aaa;
RESET ROLE;
CREATE TABLE public.victim (id int, subj text, collected_at timestamptz);
ALTER TABLE public.victim OWNER TO carol;
SET client_min_messages = error;
SELECT personal_data.register_table('public.victim', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('appx.aaa', 'subj', 'collected_at', retention => interval '1 day');
});
my $log_offset = -s $node->logfile;
ok($node->wait_for_log(qr/database "postgres" had its share of the round/, $log_offset),
	'the slow table uses up the database\'s share of a round');
$node->safe_psql('postgres', q{INSERT INTO public.victim VALUES (1, 'v', now() - interval '2 days')});
# every round starts at a random table: the victim's turn comes (the chance
# of missing it ten rounds running is 1 in 1024; the poll waits longer)
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM public.victim}),
	'the table after it is purged all the same');
$node->safe_psql('postgres', 'DROP TABLE appx.aaa');

# --- the database owner cannot make every batch read the whole table ---------------

$node->safe_psql('postgres', 'CREATE DATABASE plain OWNER app');
$node->safe_psql('owned', 'ALTER DATABASE owned SET enable_tidscan = off', extra_params => [ '-U', 'app' ]);
$node->safe_psql('postgres', "ALTER SYSTEM SET personal_data.purge_batch_size = 1000");
$node->reload;
# the same table in both databases; "plain" keeps the defaults
for my $db (qw(owned plain))
{
	$node->safe_psql($db, q{
CREATE EXTENSION personal_data;
CREATE TABLE big (id int, subj text, collected_at timestamptz);
ALTER TABLE big OWNER TO app;
INSERT INTO big SELECT g, 's', now() - interval '2 days' * (g % 2) FROM generate_series(1, 100000) g;
ANALYZE big;
SET client_min_messages = error;
SELECT personal_data.register_table('big', 'subj', 'collected_at', retention => interval '1 day');
});
}
for my $db (qw(owned plain))
{
	ok($node->poll_query_until($db, q{SELECT count(*) = 50000 FROM big}), "$db: the expired half is purged");
}
# by TID ranges each block is read about once, plus each round's look for an
# expired row (no index on collected_at: a scan, stopping at the first); by
# sequential scans each of the ~110 batches would read the whole table
# (11 million rows)
my %read = map {
	$_ => $node->safe_psql($_, q{SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'big'})
} qw(owned plain);
cmp_ok($read{owned}, '<', 3000000,
	"batches are TID range scans whatever the database's settings ($read{owned} rows read, $read{plain} with the defaults)");

$node->stop;
done_testing();
