#!/usr/bin/env python3
"""Print classifier rules made from GNU Mailman 3's own translations.

    scripts/mailman-phrases.py [--mailman DIR] [--update RULES_FILE]

Reads the message catalogues (messages/*/LC_MESSAGES/mailman.po) and the
templates (templates/*/list:user:*.txt) of the installed Mailman 3 package
(Debian `mailman3`; DIR defaults to where Python finds the `mailman` package)
and prints one rule per notice (rules/backscatter.rules format, docs/rules.md),
each an alternation of every translation the package ships:

  subj-mailman-join     the Subject of the subscription confirmation request
                        (msgid "Your confirmation is needed to join the ...
                        mailing list.")
  subj-mailman-leave    the same for leaving a list
  subj-mailman-held     the Subject of the notice to the poster of a held
                        post ("Your message to ... awaits moderator approval")
  subj-mailman-rejected the Subject of a moderator's refusal sent to the
                        poster ("Request to mailing list "..." rejected")
  body-mailman-confirm  the title line of the confirmation templates
                        (list:user:action:subscribe / unsubscribe; a first
                        line longer than 80 characters or holding a
                        placeholder is no title and is skipped)
  body-mailman-held     the first line of the hold template's paragraph that
                        follows the quoted Subject (list:user:notice:hold)
  body-mailman-rejected the first line of the refusal template's paragraph
                        that follows the quoted request
                        (list:user:notice:refuse)

Entries marked fuzzy, obsolete ones and empty translations are skipped (msgfmt
does not compile them, so Mailman never sends them). A placeholder for the
list address becomes \\S+@\\S+, any other (a display name) [^\\n]+;
a bare {name} is kept as written, as Mailman sends it. Everything else is
matched literally, blanks included: a body phrase is the first line of a
template paragraph as Mailman sends it (filled to 70 columns as its wrap()
does, cut before a placeholder), and an unfolded Subject has the
catalogue's spaces. (A \\s+ for each blank would double the compile time of
the whole rule set.) A pattern longer than the engine allows is split into rules NAME-2,
NAME-3, ... With --update, the rules between the "BEGIN mailman-phrases" and
"END mailman-phrases" comment lines of RULES_FILE are replaced.
"""
import argparse
import importlib.util
import os
import re
import sys
import textwrap

from phrase_rules import literal, replace_block, rule_lines

SUBJECTS = {
    "subj-mailman-join": ("subscription_confirm", "1.0", [
        "Your confirmation is needed to join the ${event.mlist.fqdn_listname} mailing list.",
    ]),
    "subj-mailman-leave": ("subscription_confirm", "1.0", [
        "Your confirmation is needed to leave the ${event.mlist.fqdn_listname} mailing list.",
    ]),
    "subj-mailman-held": ("autoreply", "2.5", [
        "Your message to ${mlist.fqdn_listname} awaits moderator approval",
    ]),
    "subj-mailman-rejected": ("bounce", "1.0", [
        'Request to mailing list "${display_name}" rejected',
    ]),
}
BODY_CONFIRM = ("body-mailman-confirm", "subscription_confirm", "0.7",
                ["list:user:action:subscribe.txt", "list:user:action:unsubscribe.txt"])
BODY_AFTER = [
    ("body-mailman-held", "autoreply", "0.7", "list:user:notice:hold.txt", "$subject"),
    # (cs quotes the $subject in the refusal where the others quote $request)
    ("body-mailman-rejected", "bounce", "0.7", "list:user:notice:refuse.txt", "$request|$subject"),
]

# Where Debian's mailman3 installs the package (for a python3 other than Debian's).
DEBIAN_MAILMAN = "/usr/lib/python3/dist-packages/mailman"
# Mailman substitutes $name and ${name}; a bare {name} stays as written.
# The column at which Mailman fills template paragraphs (utilities.string.wrap).
MAILMAN_WRAP = 70
# Longest first line of a confirmation template taken as its title.
TITLE_MAX = 80
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def unquote(s):
    """The value of a .po string literal (without its quotes)."""
    out, i = [], 0
    esc = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(esc.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_po(path):
    """{msgid: msgstr} of the entries msgfmt compiles (not fuzzy, not obsolete, translated)."""
    entries, cur, field, fuzzy = {}, {}, None, False

    def flush():
        nonlocal cur, field, fuzzy
        if "msgid" in cur and cur.get("msgstr") and not fuzzy and "msgid_plural" not in cur:
            entries[cur["msgid"]] = cur["msgstr"]
        cur, field, fuzzy = {}, None, False

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                flush()
                continue
            if line.startswith("#~"):
                continue
            if line.startswith("#,"):
                if "msgid" in cur:
                    flush()
                fuzzy = "fuzzy" in line
                continue
            if line.startswith("#"):
                if "msgid" in cur:
                    flush()
                continue
            m = re.match(r'(msgid|msgid_plural|msgstr(?:\[\d+\])?|msgctxt)\s+"(.*)"$', line)
            if m:
                if m.group(1) in ("msgid", "msgctxt") and "msgstr" in cur:
                    flush()
                field = m.group(1)
                cur[field] = unquote(m.group(2))
            elif line.startswith('"') and field:
                cur[field] += unquote(line[1:-1])
    flush()
    return entries


def to_regex(text):
    """A Vectorscan pattern body matching TEXT with its placeholders filled in."""
    text = text.strip().rstrip(".。").strip()
    parts, pos = [], 0
    for m in PLACEHOLDER.finditer(text):
        parts.append(literal(text[pos:m.start()]))
        ph = m.group(0)
        parts.append(r"\S+@\S+" if "fqdn_listname" in ph or ph == "$listname" else r"[^\n]+")
        pos = m.end()
    parts.append(literal(text[pos:]))
    return "".join(parts)


def alternatives(texts):
    seen, alts = set(), []
    for t in texts:
        r = to_regex(t)
        if r and r not in seen:
            seen.add(r)
            alts.append(r)
    return alts


def langs(d):
    return sorted(x for x in os.listdir(d) if not x.startswith("_") and os.path.isdir(os.path.join(d, x)))


def sentence_after(path, var):
    """The first line Mailman sends of the template paragraph after the line
    quoting VAR ($subject; "$request|$subject": the first of them found)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        if any(v in line for v in var.split("|")):
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            para = []
            while j < len(lines) and lines[j].strip() and not lines[j][0].isspace():
                para.append(lines[j])
                j += 1
            return first_sent_line(para)
    return None


def first_sent_line(para):
    """The first line Mailman sends of a template paragraph (lines without
    leading blanks): it fills each paragraph as its utilities.string.wrap()
    does (textwrap, 70 columns, sentence ends fixed), after the substitution,
    so a line is cut before its first placeholder."""
    if not para:
        return None
    lines = textwrap.TextWrapper(width=MAILMAN_WRAP, break_on_hyphens=False,
                                 fix_sentence_endings=True).wrap("\n".join(para) + "\n")
    first = PLACEHOLDER.split(lines[0])[0].strip() if lines else ""
    return first or None


def rules(mm):
    msgdir, tpldir = os.path.join(mm, "messages"), os.path.join(mm, "templates")
    catalogues = {lang: read_po(os.path.join(msgdir, lang, "LC_MESSAGES", "mailman.po"))
                  for lang in langs(msgdir)
                  if os.path.exists(os.path.join(msgdir, lang, "LC_MESSAGES", "mailman.po"))}
    out = []
    for name, (kind, weight, msgids) in SUBJECTS.items():
        texts, used = [], []
        for msgid in msgids:
            texts.append(msgid)
            for lang, cat in catalogues.items():
                if cat.get(msgid):
                    texts.append(cat[msgid])
                    used.append(lang)
        out.append(f"# {name}: msgids {' / '.join(repr(m) for m in msgids)}; "
                   f"translated in {', '.join(sorted(set(used))) or 'none'}")
        out += rule_lines(name, "subject", kind, weight, alternatives(texts), head=r"^\s*")
    name, kind, weight, files = BODY_CONFIRM
    texts, used = [], []
    for lang in langs(tpldir):
        for f in files:
            p = os.path.join(tpldir, lang, f)
            if os.path.exists(p):
                first = open(p, encoding="utf-8").readline().strip()
                # A title line; some templates (ca, ko in 3.3.8) are one
                # unwrapped paragraph with broken placeholders: skipped.
                if first and len(first) <= TITLE_MAX and "$" not in first:
                    first = first_sent_line([first])
                    texts.append(first)
                    used.append(lang)
    out.append(f"# {name}: first line of templates {' / '.join(files)} in {', '.join(sorted(set(used)))}")
    out += rule_lines(name, "body", kind, weight, alternatives(texts), head=r"^\s*")
    for name, kind, weight, f, var in BODY_AFTER:
        texts, used = [], []
        for lang in langs(tpldir):
            p = os.path.join(tpldir, lang, f)
            if os.path.exists(p):
                s = sentence_after(p, var)
                if s:
                    texts.append(s)
                    used.append(lang)
        out.append(f"# {name}: first line of the paragraph after the quoted {var} of template {f} in {', '.join(used)}")
        out += rule_lines(name, "body", kind, weight, alternatives(texts))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mailman", help="the mailman package directory")
    ap.add_argument("--update", help="rules file whose mailman-phrases block is replaced")
    a = ap.parse_args()
    mm = a.mailman
    if mm is None:
        spec = importlib.util.find_spec("mailman")
        if spec is not None and spec.submodule_search_locations:
            mm = list(spec.submodule_search_locations)[0]
        elif os.path.isdir(DEBIAN_MAILMAN):
            mm = DEBIAN_MAILMAN
        else:
            sys.exit("mailman package not found (apt-get install mailman3, or --mailman DIR)")
    lines = rules(mm)
    if not a.update:
        print("\n".join(lines))
        return
    replace_block(a.update, "mailman-phrases", lines)


if __name__ == "__main__":
    main()
