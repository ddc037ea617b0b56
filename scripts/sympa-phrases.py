#!/usr/bin/env python3
"""Print classifier rules made from Sympa's own translations.

    scripts/sympa-phrases.py [--locale DIR] [--update RULES_FILE]

Reads the compiled catalogues of the installed Sympa (Debian `sympa`:
DIR/*/LC_MESSAGES/sympa.mo, DIR defaulting to /usr/share/locale) and prints
one rule per notice (rules/backscatter.rules format, docs/rules.md), each an
alternation of the English text and every translation shipped:

  subj-sympa-confirm-post  "Confirm your message for list %1": the Subject of
                           the request to confirm a post (send_auth.tt2, with
                           a web interface), a challenge in effect
  body-sympa-confirm-post  "To distribute the attached message in list %1,
                           click on the URL:" (send_auth.tt2)
  subj-sympa-auth          "%1 / subscribing to %2", "%1 / unsubscribing from
                           %2": the Subjects of the (un)subscription
                           confirmation requests (request_auth.tt2, with a
                           web interface)
  body-sympa-auth          "You requested that your e-mail address be added
                           to / removed from list '%1'." (request_auth.tt2)

In a Subject a placeholder becomes [^\\n]+ for the service title (%1 of a
msgid that also has %2, whatever the translation made of them) or \\S+ for
the list name; a Subject that starts with the title is matched from
after it, unanchored. A body phrase is the start of the translation up to
its first placeholder, at most BODY_PREFIX characters cut at a blank (Sympa
folds long lines), and only when at least BODY_MIN characters remain; the
rest is matched literally. With --update, the rules between the "BEGIN
sympa-phrases" and "END sympa-phrases" comment lines of RULES_FILE are
replaced.
"""
import argparse
import gettext
import glob
import os
import re
import sys

from phrase_rules import literal, replace_block, rule_lines

SUBJECTS = [
    ("subj-sympa-confirm-post", "challenge", "1.0", ["Confirm your message for list %1"]),
    ("subj-sympa-auth", "subscription_confirm", "1.0",
     ["%1 / subscribing to %2", "%1 / unsubscribing from %2"]),
]
BODIES = [
    ("body-sympa-confirm-post", "challenge", "1.0",
     ["To distribute the attached message in list %1, click on the URL:"]),
    ("body-sympa-auth", "subscription_confirm", "0.7",
     ["You requested that your e-mail address be added to list '%1'.",
      "You requested that your e-mail address be removed from list '%1'."]),
]
# Longest body prefix taken (Sympa folds lines near 72 columns; a CJK
# character takes two).
BODY_PREFIX = 34
# Shortest body prefix kept: shorter ones are too common to mean anything.
BODY_MIN = 12
PLACEHOLDER = re.compile(r"%\d+")


def subject_regex(text, msgid):
    """%1 is the service title (any text) where the msgid also has %2 (the list name)."""
    title = "%2" in msgid
    parts, pos = [], 0
    for m in PLACEHOLDER.finditer(text):
        parts.append(literal(text[pos:m.start()]))
        parts.append(r"[^\n]+" if m.group(0) == "%1" and title else r"\S+")
        pos = m.end()
    parts.append(literal(text[pos:]))
    # A leading title matches anything: the pattern starts after it,
    # unanchored (an unbounded repeat at the start is costly to compile).
    if parts[0] == "" and len(parts) > 1 and parts[1] == r"[^\n]+":
        return "".join(parts[2:])
    return "^\\s*" + "".join(parts)


def body_regex(text, _msgid):
    head = PLACEHOLDER.split(text)[0].strip()
    if len(head) > BODY_PREFIX:
        cut = head[:BODY_PREFIX]
        head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return literal(head) if len(head) >= BODY_MIN else None


def rules(locale):
    cats = {}
    for f in sorted(glob.glob(os.path.join(locale, "*", "LC_MESSAGES", "sympa.mo"))):
        with open(f, "rb") as fh:
            cats[f.split(os.sep)[-3]] = gettext.GNUTranslations(fh)._catalog
    out = []
    for table, make, target in ((SUBJECTS, subject_regex, "subject"), (BODIES, body_regex, "body")):
        for name, kind, weight, msgids in table:
            alts, used = [], set()
            for msgid in msgids:
                for lang, text in [("C", msgid)] + [(l, c.get(msgid)) for l, c in cats.items()]:
                    if not text:
                        continue
                    r = make(text, msgid)
                    if r and r not in alts:
                        alts.append(r)
                    if r and lang != "C":
                        used.add(lang)
            out.append(f"# {name}: msgids {' / '.join(repr(m) for m in msgids)}; "
                       f"translated in {', '.join(sorted(used))}")
            out += rule_lines(name, target, kind, weight, alts)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--locale", default="/usr/share/locale", help="the directory of the catalogues")
    ap.add_argument("--update", help="rules file whose sympa-phrases block is replaced")
    a = ap.parse_args()
    if not glob.glob(os.path.join(a.locale, "*", "LC_MESSAGES", "sympa.mo")):
        sys.exit(f"no sympa.mo under {a.locale} (apt-get install sympa)")
    lines = rules(a.locale)
    if not a.update:
        print("\n".join(lines))
        return
    replace_block(a.update, "sympa-phrases", lines)


if __name__ == "__main__":
    main()
