#!/usr/bin/perl
# Talk to the supervisor's hall socket as whoever runs this (a resident, the chat user):
#   hall.pl LINE       send LINE, print every answer line
#   hall.pl --big N    send one N-byte line that never ends in time
use strict;
use IO::Socket::UNIX;
$SIG{PIPE} = 'IGNORE';
my $path = $ENV{HALL} // '/run/townhall-hall.sock';
my $s = IO::Socket::UNIX->new(Peer => $path) or die "connect $path: $!\n";
if ($ARGV[0] eq '--big') { print $s 'x' x $ARGV[1]; print $s "\n"; }
else { print $s "$ARGV[0]\n"; }
$s->flush;
print while <$s>;
