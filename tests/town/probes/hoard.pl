#!/usr/bin/perl
# Hoard one of root's sockets as whoever runs this (a resident):
#   hoard.pl SOCKET N T1 T2 ...
# opens N connections to SOCKET as fast as it can (fewer when its descriptors run out),
# sending nothing, then at each Ti seconds after the last one prints
# "SOCKET at Ti s: K of M open" (M: those it opened; K: those root has not closed).
use strict;
use Socket;
use Fcntl;
use Errno qw(EAGAIN);
use Time::HiRes qw(time sleep);
$SIG{PIPE} = 'IGNORE';
my ($path, $n, @at) = @ARGV;
my @socks;
for (1 .. $n) {
  socket(my $s, PF_UNIX, SOCK_STREAM, 0) or last;
  connect($s, pack_sockaddr_un($path)) or next;
  my $flags = fcntl($s, F_GETFL, 0);
  fcntl($s, F_SETFL, $flags | O_NONBLOCK);
  push @socks, $s;
}
my $start = time;
for my $t (@at) {
  my $left = $start + $t - time;
  sleep $left if $left > 0;
  my $open = 0;
  for my $s (@socks) {
    next unless defined $s;
    my $buf;
    my $closed = 0;
    while (1) {
      my $r = sysread($s, $buf, 65536);
      if (!defined $r) { $closed = 1 if $! != EAGAIN; last; }
      if ($r == 0) { $closed = 1; last; }
    }
    if ($closed) { close $s; $s = undef; } else { $open++; }
  }
  print "$path at ${t} s: $open of " . scalar(@socks) . " open\n";
}
