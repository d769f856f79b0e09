# A server that preloads personal_data starts, the extension can be created,
# and its settings (and version function, once there is one) answer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
# ./run-tests already appends test/regress.conf (TEMP_CONFIG); saying it here
# too keeps the test meaningful when run on its own.
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'personal_data'");
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'personal_data', 'server starts with personal_data preloaded');

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION personal_data');
is($ret, 0, 'CREATE EXTENSION personal_data succeeds');
is($stderr, '', 'CREATE EXTENSION personal_data reports nothing');

is($node->safe_psql('postgres', 'SHOW personal_data.purpose'),
	'', 'personal_data.purpose is empty by default');
is( $node->safe_psql(
		'postgres',
		"SET personal_data.purpose = 'billing'; SHOW personal_data.purpose"),
	'billing',
	'personal_data.purpose can be set by the session');

SKIP:
{
	my $has_version = $node->safe_psql('postgres',
		q{SELECT to_regprocedure('personal_data.version()') IS NOT NULL});
	skip 'personal_data.version() does not exist', 1
	  unless $has_version eq 't';
	like($node->safe_psql('postgres', 'SELECT personal_data.version()'),
		qr/\S/, 'personal_data.version() answers');
}

$node->stop;
done_testing();
