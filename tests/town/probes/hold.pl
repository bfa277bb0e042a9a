#!/usr/bin/perl
# Hold /dev/ttyS0 open as whoever runs this, writing a byte every 0.2 s for SECONDS:
#   hold.pl LOG SECONDS
# LOG gets "opened", then "ok" or "failed: ERROR" for each write.
use strict;
use Fcntl;
use IO::Handle;
use Time::HiRes qw(sleep time);
$SIG{PIPE} = 'IGNORE';
my ($log, $secs) = @ARGV;
open(my $l, '>>', $log) or die "$log: $!\n";
$l->autoflush(1);
sysopen(my $f, "/dev/ttyS0", O_WRONLY | O_NONBLOCK | O_NOCTTY) or do { print $l "open failed: $!\n"; exit 1 };
print $l "opened\n";
my $end = time + $secs;
while (time < $end) {
  my $n = syswrite($f, "x");
  print $l (defined $n ? "ok\n" : ($!{EAGAIN} ? "ok (full)\n" : "failed: $!\n"));
  sleep 0.2;
}
