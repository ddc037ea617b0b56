#!/usr/bin/perl
# sisimai.pl PATH... > results.jsonl
# Sisimai (Debian `libsisimai-perl`, 4.25) on each message, in memory:
# Sisimai->make(\$text, delivered => 1). No result -> none; reason
# "vacation" -> autoreply; "feedback" (ARF) and "delivered" -> none;
# any other reason (a bounce) -> bounce. Sisimai has no virus, challenge or
# subscription kinds.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CorpusWalk;
use Sisimai;

CorpusWalk::each_message(sub {
    my ($file, $index, $text) = @_;
    my $list = eval { Sisimai->make(\$text, delivered => 1) };
    my $kind = 'none';
    my @reasons;
    if ($list && @$list) {
        @reasons = map { $_->reason // '' } @$list;
        my $r = $reasons[0];
        $kind = $r eq 'vacation' ? 'autoreply'
              : ($r eq 'feedback' || $r eq 'delivered') ? 'none' : 'bounce';
    }
    CorpusWalk::emit($file, $index, $kind, [map { "reason:$_" } @reasons]);
}, @ARGV);
