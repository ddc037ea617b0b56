# Shared by the peer runners: walks files and directories in sorted order and
# yields each message (single-message files, and mbox files split at "From "
# lines that follow an empty line, as backstop's reader does), so every tool
# is scored on the same messages. Also writes one JSON Lines result.
package CorpusWalk;
use strict;
use warnings;
use File::Find ();
use JSON::PP ();

my $json = JSON::PP->new->canonical->ascii;

# Files that describe a corpus rather than hold mail.
sub skip_name { my ($n) = @_; return $n =~ /^(LABELS\.tsv|README.*|LICENSE.*|\..*)$/ }

sub files {
    my @out;
    for my $p (@_) {
        if (-d $p) {
            File::Find::find({ no_chdir => 1, wanted => sub {
                my $n = $_; $n =~ s{.*/}{};
                if (-d $_) { $File::Find::prune = 1 if $n =~ /^\./ && $_ ne $p; return; }
                push @out, $_ if -f $_ && !skip_name($n);
            } }, $p);
        } else {
            push @out, $p;
        }
    }
    return sort @out;
}

# each_message(\&cb, PATHS...): cb->(file, index, text)
sub each_message {
    my ($cb, @paths) = @_;
    for my $f (files(@paths)) {
        open(my $fh, '<:raw', $f) or next;
        local $/;
        my $text = <$fh>;
        close $fh;
        next unless defined $text && length $text;
        if ($text =~ /\AFrom /) {
            my @msgs = split /(?<=\n\n)(?=From )|(?<=\r\n\r\n)(?=From )/, $text;
            my $i = 0;
            for my $m (@msgs) {
                $m =~ s/\AFrom [^\n]*\n//;
                $cb->($f, $i++, $m);
            }
        } else {
            $cb->($f, 0, $text);
        }
    }
}

sub emit {
    my ($file, $index, $kind, $signals) = @_;
    print $json->encode({ file => $file, index => $index, kind => $kind,
                          signals => $signals // [] }), "\n";
}

1;
