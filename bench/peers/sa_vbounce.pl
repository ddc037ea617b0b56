#!/usr/bin/perl
# sa_vbounce.pl PATH... > results.jsonl
# SpamAssassin (Debian `spamassassin`) with its stock rules, VBounce plugin
# loaded by the stock v320.pre, in one Perl process: local tests only, no
# Bayes, no auto-welcomelist, no network. welcomelist_bounce_relays is set to
# a host name that appears in no message: VBounce's BOUNCE_MESSAGE only fires
# when some relay is configured, and with one that is never found every
# bounce counts as backscatter (none is "ours") -- the behaviour of an
# installation that relays nothing through the bounced mail's path.
# kind: CRBOUNCE_MESSAGE/CHALLENGE_RESPONSE -> challenge, VBOUNCE_MESSAGE ->
# virus_notice, OOOBOUNCE_MESSAGE -> autoreply, BOUNCE_MESSAGE -> bounce.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CorpusWalk;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;

my $state = tempdir(CLEANUP => 1);
my $sa = Mail::SpamAssassin->new({
    local_tests_only => 1,
    dont_copy_prefs  => 1,
    userstate_dir    => $state,
    home_dir_for_helpers => $state,
    post_config_text => join("\n",
        'welcomelist_bounce_relays bounce-relay.backstop.invalid',
        'use_bayes 0', 'bayes_auto_learn 0', 'use_auto_welcomelist 0',
        'dns_available no', ''),
});
$sa->init(1);

my @order = (['CRBOUNCE_MESSAGE', 'challenge'], ['CHALLENGE_RESPONSE', 'challenge'],
             ['VBOUNCE_MESSAGE', 'virus_notice'], ['OOOBOUNCE_MESSAGE', 'autoreply'],
             ['BOUNCE_MESSAGE', 'bounce']);
CorpusWalk::each_message(sub {
    my ($file, $index, $text) = @_;
    my $msg = $sa->parse($text);
    my $status = $sa->check($msg);
    my %hit = map { $_ => 1 } split /,/, ($status->get_names_of_tests_hit() // '');
    my $kind = 'none';
    for my $o (@order) { if ($hit{$o->[0]}) { $kind = $o->[1]; last; } }
    my @sig = sort grep { /BOUNCE|CHALLENGE/ } keys %hit;
    CorpusWalk::emit($file, $index, $kind, \@sig);
    $status->finish;
    $msg->finish;
}, @ARGV);
