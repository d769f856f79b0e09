# What a sixth red-team of the purge found, closed (0.7), as the worker does it:
#  - a partition labelled before it was attached to a registered tree was
#    purged a second time under its own labels (which are not in force): the
#    worker skips it, the tree's rules purge its rows.
#  - expired rows kept only because their deletion would cascade into a
#    registered table's rows were never logged: the worker logs them each
#    round, as it logs rows a plain foreign key keeps.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('purge_redteam4');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.purge_naptime = '1s'");
$node->append_conf('postgresql.conf', "autovacuum = off");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION personal_data');

# --- a partition's own (not in force) labels -------------------------------------

$node->safe_psql('postgres', q{
SET client_min_messages = error;
CREATE TABLE events (id int, subj text, collected_at timestamptz) PARTITION BY RANGE (id);
SELECT personal_data.register_table('events', 'subj', 'collected_at', retention => interval '7 years');
CREATE TABLE events_old (id int, subj text, collected_at timestamptz);
SELECT personal_data.register_table('events_old', 'subj', 'collected_at', retention => interval '1 day');
ALTER TABLE events ATTACH PARTITION events_old FOR VALUES FROM (0) TO (1000);
-- erin's row: 30 days old, kept 7 years by the tree; eve's: 8 years old
INSERT INTO events VALUES (1, 'erin', now() - interval '30 days'), (2, 'eve', now() - interval '8 years');
});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM events}),
	'the worker purges the tree under its rules');
# two more rounds
ok($node->poll_query_until('postgres',
		q{SELECT count(*) >= 1 FROM pg_stat_activity WHERE backend_type = 'personal_data purge launcher'}),
	'the launcher runs');
sleep 3;
is($node->safe_psql('postgres', q{SELECT string_agg(subj, ',') FROM events}), 'erin',
	'rounds later, the row the tree keeps is still there');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT relation, ',') FROM personal_data.purge_log}),
	'public.events', 'the partition is never purged under its own labels');

# --- rows a cascade keeps are logged each round ----------------------------------

my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
SET client_min_messages = error;
CREATE TABLE cust (id int PRIMARY KEY, subj text, collected_at timestamptz);
CREATE TABLE referral (id int PRIMARY KEY, subj text, collected_at timestamptz,
	referrer int REFERENCES cust(id) ON DELETE CASCADE);
SELECT personal_data.register_table('cust', 'subj', 'collected_at', retention => interval '1 day');
SELECT personal_data.register_table('referral', 'subj', 'collected_at', retention => interval '7 years');
INSERT INTO cust VALUES (1, 'pat', now() - interval '30 days');
-- rita's referral (fresh) would go with pat's row
INSERT INTO referral VALUES (10, 'rita', now(), 1);
});
ok($node->wait_for_log(qr/personal_data purge: public\.cust: 1 expired row\(s\) kept: .*cascade/, $log_offset),
	'the row a cascade keeps is logged');
$log_offset = -s $node->logfile;
ok($node->wait_for_log(qr/personal_data purge: public\.cust: 1 expired row\(s\) kept/, $log_offset),
	'and logged again the next round');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cust}) . ',' .
	$node->safe_psql('postgres', q{SELECT count(*) FROM referral}), '1,1',
	'both rows stay');
# the referral goes: the row is purged at the next round
$node->safe_psql('postgres', q{DELETE FROM referral});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM cust}),
	'once nothing keeps it, the row is purged');

$node->stop;
done_testing();
