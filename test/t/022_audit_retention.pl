# personal_data.audit_retention: the writer removes entries older than the
# retention, leaves a checkpoint with the id and hash of the last one
# removed, and the chain still verifies from there; an entry removed by hand
# after the checkpoint is still caught.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('audit_retention');
$node->init;
$node->append_conf('postgresql.conf', "personal_data.audit_flush_interval = '50ms'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION personal_data;
CREATE TABLE rt (id int PRIMARY KEY, subject text NOT NULL, secret text);
INSERT INTO rt SELECT g, 's' || g, 'x' || g FROM generate_series(1, 10) g;
SELECT personal_data.register_table('rt', 'subject');
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub reads
{
	my ($n) = @_;
	sql(join('', map { "SELECT secret FROM rt WHERE id = $_;\n" } 1 .. $n)
		  . 'SELECT personal_data.audit_flush();');
}

# 6 old entries, in the log before the retention is set
reads(6);
is(sql('SELECT count(*) FROM personal_data.access_log'), '6', 'six entries before');
is(sql('SELECT ok, checked FROM personal_data.verify_audit_log()'), 't|6', 'the chain verifies');
my $old_head = sql(q{SELECT id || '|' || encode(hash, 'hex') FROM personal_data.audit_head()});

# a retention of 2 s; the entries above become older than it
$node->append_conf('postgresql.conf', "personal_data.audit_retention = '2s'");
$node->reload;
sleep(3);

# new entries keep the writer busy until it has applied the retention
my $removed = 0;
for my $try (1 .. 40)
{
	reads(1);
	$removed = sql('SELECT count(*) FROM personal_data.audit_checkpoints');
	last if $removed > 0;
	sleep(0.25);
}
ok($removed >= 1, 'the writer wrote a checkpoint');
# no more removals from here on
$node->append_conf('postgresql.conf', "personal_data.audit_retention = 0");
$node->reload;
reads(1);
is( sql(q{SELECT id || '|' || encode(hash, 'hex') || '|' || removed FROM personal_data.audit_checkpoints ORDER BY id LIMIT 1}),
	"$old_head|6",
	'the checkpoint holds the id and hash of the last entry removed, and how many were removed');
is(sql('SELECT count(*) FROM personal_data.access_log WHERE id <= 6'), '0', 'the six old entries are gone');
is( sql('SELECT count(*) FROM personal_data.access_log WHERE id <= (SELECT max(id) FROM personal_data.audit_checkpoints)'),
	'0', 'nothing older than the latest checkpoint is left');
my $left = sql('SELECT count(*) FROM personal_data.access_log');
ok($left >= 1, 'the new entries are kept');
is(sql('SELECT ok, checked, first_bad_id IS NULL FROM personal_data.verify_audit_log()'),
	"t|$left|t", 'the chain verifies from the checkpoint');

# a batch deleted by hand (a superuser disabling the trigger) is a gap in
# the chain after the checkpoint
reads(3);
my $first_kept = sql('SELECT min(first_id) FROM personal_data.access_log_batches');
sql(qq{
ALTER TABLE personal_data.access_log_batches DISABLE TRIGGER access_log_batches_append_only;
DELETE FROM personal_data.access_log_batches WHERE first_id = $first_kept;
ALTER TABLE personal_data.access_log_batches ENABLE TRIGGER access_log_batches_append_only;
});
my $next = sql('SELECT min(id) FROM personal_data.access_log');
is(sql('SELECT ok, checked, first_bad_id FROM personal_data.verify_audit_log()'),
	"f|0|$next", 'a batch removed by hand after the checkpoint breaks the chain at the next entry');

$node->stop;
done_testing();
