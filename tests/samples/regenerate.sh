#!/usr/bin/env bash
# regenerate.sh [OUTDIR]: produces the sample messages of this folder by
# running real software from Debian packages locally, with private
# configurations in a temporary directory, and capturing what each program
# hands to its mail transport (a capture SMTP server on loopback,
# capture_smtp.py, or a capture `sendmail` script). Needs root and these
# Debian packages (dev-time tools, not project dependencies):
#   apt-get install -y --no-install-recommends mlmmj dovecot-core dovecot-sieve \
#     vacation amavisd-new clamav
# Message-IDs, dates and confirmation cookies change on every run; the kinds
# do not. LABELS.tsv and README.md are maintained by hand.
# Uses 127.0.0.1 ports 2525, 2527 (capture servers) and 10024 (amavisd);
# KEEP_TMP=1 keeps the temporary directory (configurations, logs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/backstop-samples.XXXXXX")
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

# capture_sendmail DIR PREFIX: writes DIR/sendmail, a sendmail stand-in that
# stores each message as DIR/PREFIX-N.eml with a Return-Path header for the
# envelope sender given with -f (as the delivering MTA would add).
capture_sendmail() {
  local dir=$1 prefix=$2
  mkdir -p "$dir/cap"
  cat >"$dir/sendmail" <<EOF
#!/bin/sh
sender=
while [ \$# -gt 0 ]; do
  case "\$1" in
    -f) sender=\$2; shift 2 ;;
    -f*) sender=\${1#-f}; shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
n=\$(cat "$dir/cap.count" 2>/dev/null || echo 0)
n=\$((n + 1))
echo \$n > "$dir/cap.count"
sender=\${sender#<}; sender=\${sender%>}
{ printf 'Return-Path: <%s>\n' "\$sender"; cat; } > "$dir/cap/$prefix-\$n.eml"
EOF
  chmod 755 "$dir/sendmail"
  chmod 777 "$dir/cap"
}

# start_capture_smtp PORT DIR PREFIX
start_capture_smtp() {
  mkdir -p "$2"
  python3 "$here/capture_smtp.py" "$1" "$2" "$3" &
  pids+=($!)
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1)).close()" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "capture server on port $1 did not start" >&2
  return 1
}

# ---------------------------------------------------------------- mlmmj
gen_mlmmj() {
  local d=$tmp/mlmmj port=2525
  mkdir -p "$d/spool"
  start_capture_smtp $port "$d/cap" mlmmj
  # mlmmj-make-ml asks for the domain, the owner, the language and a cron job.
  printf 'example.org\nowner@example.org\nen\nN\n' | mlmmj-make-ml -L news -s "$d/spool" >/dev/null
  printf 'example.org\nowner@example.org\nde\nN\n' | mlmmj-make-ml -L neuigkeiten -s "$d/spool" >/dev/null
  for l in news neuigkeiten; do
    echo 127.0.0.1 >"$d/spool/$l/control/relayhost"
    echo $port >"$d/spool/$l/control/smtpport"
  done
  # 1. A subscription request by mail (the backscatter case: anyone can send
  #    it with a forged From), processed as the MTA would hand it over.
  printf 'Delivered-To: news+subscribe@example.org\nFrom: carol@example.net\nTo: news+subscribe@example.org\nSubject: subscribe\nMessage-ID: <sub-request-1@example.net>\nDate: Fri, 27 Nov 2026 20:00:00 +0000\n\nsubscribe\n' |
    /usr/bin/mlmmj-receive -L "$d/spool/news" -F
  wait_file "$d/cap/mlmmj-1.eml"
  mv "$d/cap/mlmmj-1.eml" "$out/mlmmj-subscribe-request.eml"
  # 2. The same on a list with German texts.
  printf 'Delivered-To: neuigkeiten+subscribe@example.org\nFrom: erika@example.net\nTo: neuigkeiten+subscribe@example.org\nSubject: subscribe\nMessage-ID: <sub-request-3@example.net>\nDate: Fri, 27 Nov 2026 20:00:02 +0000\n\nsubscribe\n' |
    /usr/bin/mlmmj-receive -L "$d/spool/neuigkeiten" -F
  wait_file "$d/cap/mlmmj-2.eml"
  mv "$d/cap/mlmmj-2.eml" "$out/mlmmj-subscribe-request-de.eml"
  # 3. An administrator's subscription with confirmation (mlmmj-sub -C).
  /usr/bin/mlmmj-sub -L "$d/spool/news" -a frank@example.net -C -U
  wait_file "$d/cap/mlmmj-3.eml"
  mv "$d/cap/mlmmj-3.eml" "$out/mlmmj-sub-admin-confirm.eml"
}

# wait_file PATH: waits until the capture has written PATH.
wait_file() {
  for _ in $(seq 200); do
    [[ -s $1 ]] && sleep 0.2 && return 0
    sleep 0.1
  done
  echo "no message $1" >&2
  return 1
}

# ------------------------------------------------------- Dovecot Pigeonhole
gen_sieve() {
  local d=$tmp/sieve
  mkdir -p "$d/run" "$d/mail" "$d/sieve"
  capture_sendmail "$d" sieve
  cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
log_path = $d/dovecot.log
mail_location = maildir:$d/mail
sendmail_path = $d/sendmail
postmaster_address = postmaster@example.org
hostname = mx.example.org
ssl = no
protocols =
protocol lda {
  mail_plugins = sieve
}
plugin {
  sieve = file:$d/sieve;active=$d/active.sieve
}
EOF
  local n=0 name script
  while IFS='|' read -r name script; do
    [[ -n $name ]] || continue
    n=$((n + 1))
    printf 'require ["vacation"];\n%b\n' "$script" >"$d/active.sieve"
    rm -rf "$d/.dovecot.lda-dupes" "$d/.dovecot.lda-dupes.locks" "$d/sieve"/*
    chown -R nobody:nogroup "$d"
    printf 'From: Sender %s <sender%s@example.net>\nTo: Alice <alice@example.org>\nSubject: Quarterly figures %s\nMessage-ID: <orig-%s@example.net>\nDate: Fri, 27 Nov 2026 20:00:00 +0000\n\nHi Alice, the figures are attached.\n' "$n" "$n" "$n" "$n" |
      env -i HOME="$d" PATH=/usr/bin:/bin setpriv --reuid=nobody --regid=nogroup --clear-groups \
        /usr/lib/dovecot/dovecot-lda -c "$d/dovecot.conf" -f "sender$n@example.net" -a alice@example.org
    wait_file "$d/cap/sieve-$n.eml"
    mv "$d/cap/sieve-$n.eml" "$out/sieve-vacation-$name.eml"
  done <<'EOF'
en-default|vacation :days 1 :addresses ["alice@example.org"] "I am out of the office until 7 December and have limited access to e-mail.\nI will answer your message when I am back.";
en-subject|vacation :days 1 :addresses ["alice@example.org"] :subject "Out of office: back on 7 December" "I am away from the office until 7 December.\nFor urgent matters please contact bob@example.org.";
en-mime|vacation :days 1 :addresses ["alice@example.org"] :mime :subject "Away until Monday" "Content-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain; charset=utf-8\n\nI am on holiday until Monday and will reply after my return.\n--alt\nContent-Type: text/html; charset=utf-8\n\n<p>I am on holiday until Monday and will reply after my return.</p>\n--alt--\n";
de|vacation :days 1 :addresses ["alice@example.org"] :subject "Abwesenheitsnotiz" "Vielen Dank für Ihre Nachricht. Ich bin bis zum 7. Dezember nicht im Büro und lese meine E-Mails nur unregelmäßig.\nIn dringenden Fällen wenden Sie sich bitte an bob@example.org.";
fr|vacation :days 1 :addresses ["alice@example.org"] "Je suis absente du bureau jusqu'au 7 décembre.\nJe répondrai à votre message dès mon retour.";
EOF
}

# ------------------------------------------------------------ vacation(1)
gen_vacation() {
  local d=$tmp/vacation
  mkdir -p "$d"
  capture_sendmail "$d" vacation
  # The message of vacation(1)'s manual page.
  printf 'Subject: away from my mail\n\nI will not be reading my mail for a while.\nYour mail concerning "$SUBJECT"\nwill be read when I am back.\n' >"$d/vacation.msg"
  HOME=$d vacation -i -f "$d/vacation.db" -m "$d/vacation.msg" nobody
  printf 'Return-Path: <bob@example.net>\nFrom: Bob <bob@example.net>\nTo: nobody@example.org\nSubject: Project status\nMessage-ID: <vacation-orig-1@example.net>\nDate: Fri, 27 Nov 2026 20:00:00 +0000\n\nHello, where are we?\n' >"$d/in.eml"
  # vacation(1) runs /usr/sbin/sendmail; a private mount namespace puts the
  # capture script there for this one process only.
  unshare -m sh -c "mount --bind '$d/sendmail' /usr/sbin/sendmail && HOME='$d' vacation -j -f '$d/vacation.db' -m '$d/vacation.msg' nobody < '$d/in.eml'"
  wait_file "$d/cap/vacation-1.eml"
  mv "$d/cap/vacation-1.eml" "$out/vacation-classic.eml"
}

# ------------------------------------------------------------ amavisd-new
# amavisd-new with clamscan as its only scanner. There is no network for
# freshclam, so clamscan gets a signature database made here: the MD5 of the
# EICAR test string (built from two halves, so no file of this repository
# holds it whole).
gen_amavis() {
  local d=$tmp/amavis port=2527
  mkdir -p "$d/home/tmp" "$d/home/db"
  python3 - "$d" <<'PY'
import hashlib, sys
d = sys.argv[1]
eicar = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
open(d + "/eicar.bin", "wb").write(eicar)
open(d + "/local.hdb", "w").write(f"{hashlib.md5(eicar).hexdigest()}:{len(eicar)}:Local-EICAR-Test-Signature\n")
PY
  cat >"$d/amavisd.conf" <<CONF
use strict;
\$MYHOME = '$d/home';
\$TEMPBASE = "\$MYHOME/tmp";
\$db_home = "\$MYHOME/db";
\$helpers_home = "\$MYHOME";
\$pid_file = "\$MYHOME/amavisd.pid";
\$lock_file = "\$MYHOME/amavisd.lock";
\$path = '/usr/sbin:/usr/bin:/sbin:/bin';
\$daemon_user = 'amavis';
\$daemon_group = 'amavis';
\$mydomain = 'example.org';
\$myhostname = 'mx.example.org';
\$inet_socket_bind = '127.0.0.1';
\$inet_socket_port = 10024;
@inet_acl = qw(127.0.0.1);
\$max_servers = 1;
\$forward_method = 'smtp:[127.0.0.1]:$port';
\$notify_method = 'smtp:[127.0.0.1]:$port';
@bypass_spam_checks_maps = (1);
\$enable_dkim_verification = 0;
\$enable_dkim_signing = 0;
\$enable_db = 0;
@local_domains_maps = ( ['.example.org'] );
\$QUARANTINEDIR = undef;
\$virus_quarantine_method = undef;
\$banned_files_quarantine_method = undef;
\$virus_admin = undef;
\$banned_admin = undef;
# Bounce (a DSN to the envelope sender) instead of Debian's discard, and do
# not assume that the virus forged the sender: the configuration that
# produces virus backscatter.
\$final_virus_destiny = D_BOUNCE;
\$final_banned_destiny = D_BOUNCE;
@viruses_that_fake_sender_maps = (0);
\$warnvirusrecip = 1;
\$warnbannedrecip = 1;
\$banned_filename_re = new_RE( qr'\.(exe|scr|pif)\$'i );
\$do_syslog = 0;
\$LOGFILE = "\$MYHOME/amavis.log";
\$log_level = 1;
@av_scanners = (
  ['ClamAV-clamscan', 'clamscan',
    "--stdout --no-summary -r -d $d/local.hdb --tempdir=\$TEMPBASE {}",
    [0], qr/:.*\sFOUND\$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND\$/m ],
);
@av_scanners_backup = ();
1;
CONF
  chown -R amavis:amavis "$d/home"
  start_capture_smtp $port "$d/cap" amavis
  /usr/sbin/amavisd -c "$d/amavisd.conf" foreground >"$d/amavisd.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', 10024)).close()" 2>/dev/null && break
    sleep 0.1
  done
  # One message with the EICAR string as an attachment, one with an .exe
  # attachment (a banned file name), from bob@example.net to a local user.
  python3 - "$d" <<'PY'
import smtplib, sys
from email.message import EmailMessage
d = sys.argv[1]
for n, (subject, name, data) in enumerate([
        ("Invoice 2026-11", "invoice.com", open(d + "/eicar.bin", "rb").read()),
        ("Photos from Saturday", "photos.exe", b"MZ" + bytes(200))], 1):
    m = EmailMessage()
    m["From"] = "Bob <bob@example.net>"
    m["To"] = "alice@example.org"
    m["Subject"] = subject
    m["Message-ID"] = f"<amavis-orig-{n}@example.net>"
    m["Date"] = "Fri, 27 Nov 2026 20:00:00 +0000"
    m.set_content("Please find the file attached.")
    m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    with smtplib.SMTP("127.0.0.1", 10024) as s:
        s.sendmail("bob@example.net", ["alice@example.org"], m.as_bytes())
PY
  for _ in $(seq 100); do
    [[ $(ls "$d/cap" | wc -l) -ge 4 ]] && break
    sleep 0.1
  done
  sleep 0.5
  # Name each notice by what it is: the DSN to the sender has a null
  # Return-Path; the notice to the recipient comes from postmaster.
  local f kind what
  for f in "$d/cap"/*.eml; do
    if grep -q '^Return-Path: <>' "$f"; then kind=sender-dsn; else kind=recipient-notice; fi
    if grep -qi '^Subject: .*banned' "$f"; then what=banned; else what=virus; fi
    mv "$f" "$out/amavis-$what-$kind.eml"
  done
}

gen_mlmmj
gen_sieve
gen_vacation
if declare -F gen_amavis >/dev/null; then gen_amavis; fi
echo "samples written to $out"
