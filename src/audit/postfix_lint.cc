// lint_postfix: the rules of `backstop audit postfix` (postfix.h).
#include <algorithm>
#include <set>

#include "audit/postfix.h"
#include "common/text.h"

namespace backstop::audit {
namespace {

using Overrides = std::vector<std::pair<std::string, std::string>>;

bool is_yes(std::string_view v) { return text::iequals(text::trim(v), "yes"); }

bool contains_item(const std::vector<std::string>& items, std::string_view want) {
  return std::any_of(items.begin(), items.end(), [&](const std::string& i) { return text::iequals(i, want); });
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

class Linter {
 public:
  Linter(const PostfixInput& in, Section& s) : in_(in), s_(s) {
    pc_ = in.config_dir.empty() ? "postconf" : "postconf -c " + in.config_dir;
    reload_ = in.config_dir.empty() ? "postfix reload" : "postfix -c " + in.config_dir + " reload";
    if (in.have_master) {
      for (const auto& svc : in.master) {
        if (svc.public_smtpd() && !svc.authenticated_only()) services_.push_back(&svc);
      }
    } else {
      implicit_.name = "smtp";
      implicit_.type = "inet";
      implicit_.command = "smtpd";
      services_.push_back(&implicit_);
    }
    mydestination_ = split_list(expand(in.main, raw_value(in.main, "mydestination")));
  }

  void run() {
    local_recipients();
    relay_recipients();
    unlisted_recipient();
    unknown_recipient_checks();
    static_maps();
    catch_all_aliases();
    luser_relay();
    soft_bounce();
    unknown_local_code();
    sender_verification();
    filters();
  }

 private:
  // Where a main.cf parameter is set: "main.cf:12", or the source name.
  std::string where_main(std::string_view name) const {
    auto it = in_.main.params.find(std::string(name));
    if (it != in_.main.params.end() && it->second.line > 0 && in_.main.source == "main.cf") {
      return "main.cf:" + std::to_string(it->second.line);
    }
    return in_.main.source;
  }
  std::string where_service(const MasterService& svc) const {
    return "master.cf:" + std::to_string(svc.line) + " (" + svc.name + " " + svc.type + ")";
  }
  std::string postconf_e(std::string_view name, std::string_view value) const {
    return pc_ + " -e '" + std::string(name) + " = " + std::string(value) + "' && " + reload_;
  }
  std::string postconf_px(const MasterService& svc, std::string_view name) const {
    return pc_ + " -PX '" + svc.name + "/" + svc.type + "/" + std::string(name) +
           "' && " + reload_ + "   (deletes the -o " + std::string(name) + " override on master.cf line " +
           std::to_string(svc.line) + ")";
  }

  // For each public smtpd service: the effective value of `name` (an -o
  // override, else main.cf, else the default), expanded. `report(value,
  // svc_or_null)` is called once for main.cf's value (svc = nullptr) when a
  // service uses it, and once per service that overrides it.
  template <class Fn>
  void per_service(std::string_view name, Fn report) {
    bool main_done = false;
    for (const auto* svc : services_) {
      const auto ov = svc->override_of(name);
      if (ov) {
        report(expand(in_.main, *ov, &svc->overrides), svc);
      } else if (!main_done) {
        main_done = true;
        report(expand(in_.main, raw_value(in_.main, name), &svc->overrides), nullptr);
      }
    }
  }

  void add(std::string id, Severity sev, std::string where, std::string title, std::string why, std::string fix) {
    s_.findings.push_back(Finding{std::move(id), sev, std::move(where), std::move(title), std::move(why), std::move(fix)});
  }

  void local_recipients() {
    if (mydestination_.empty()) return;  // no local domains: the table is never asked
    per_service("local_recipient_maps", [&](const std::string& v, const MasterService* svc) {
      if (!split_list(v).empty()) return;
      add("postfix.local-recipient-maps-empty", Severity::kHigh,
          svc ? where_service(*svc) : where_main("local_recipient_maps"),
          "local_recipient_maps is empty while mydestination lists " + join(mydestination_, ", "),
          "with no table of local recipients, smtpd accepts mail for any local part of those domains; "
          "the local delivery agent then bounces the mail for unknown users to the (often forged) sender",
          svc ? postconf_px(*svc, "local_recipient_maps")
              : postconf_e("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps") +
                    "   (or your own table of local users)");
    });
  }

  // The restriction lists of a service, with restriction classes unfolded once.
  std::vector<std::string> restrictions(const MasterService* svc) const {
    const Overrides* ov = svc ? &svc->overrides : nullptr;
    std::vector<std::string> items;
    for (const char* p : {"smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
                          "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions"}) {
      for (auto& i : split_list(expand(in_.main, raw_value(in_.main, p, ov), ov))) items.push_back(std::move(i));
    }
    const auto classes = split_list(expand(in_.main, raw_value(in_.main, "smtpd_restriction_classes", ov), ov));
    std::vector<std::string> more;
    for (const auto& i : items) {
      if (contains_item(classes, i)) {
        for (auto& c : split_list(expand(in_.main, raw_value(in_.main, i, ov), ov))) more.push_back(std::move(c));
      }
    }
    items.insert(items.end(), more.begin(), more.end());
    return items;
  }

  void relay_recipients() {
    for (const auto* svc : services_) {
      const Overrides* ov = &svc->overrides;
      std::vector<std::string> relay;
      for (auto& d : split_list(expand(in_.main, raw_value(in_.main, "relay_domains", ov), ov))) {
        if (!contains_item(mydestination_, d)) relay.push_back(std::move(d));
      }
      if (relay.empty()) continue;
      if (!split_list(expand(in_.main, raw_value(in_.main, "relay_recipient_maps", ov), ov)).empty()) continue;
      const auto r = restrictions(svc);
      if (contains_item(r, "reject_unverified_recipient")) continue;
      const std::string cur = raw_value(in_.main, "smtpd_recipient_restrictions", ov);
      const std::string table = (in_.config_dir.empty() ? std::string("/etc/postfix") : in_.config_dir) +
                                "/relay_recipients";
      add("postfix.relay-without-recipient-check", Severity::kHigh, where_main("relay_domains"),
          "relay_domains (" + join(relay, ", ") +
              ") has neither relay_recipient_maps nor reject_unverified_recipient",
          "Postfix accepts mail for every address in the relayed domains and hands it to the next hop; "
          "when the next hop refuses an unknown user, Postfix bounces the message to its (often forged) "
          "sender (BACKSCATTER_README, ADDRESS_VERIFICATION_README)",
          postconf_e("relay_recipient_maps", "hash:" + table) + "   (list each valid address of " + join(relay, ", ") +
              " in " + table + ", then postmap " + table + "); or verify with the next hop: " +
              postconf_e("smtpd_recipient_restrictions",
                         (cur.empty() ? std::string("permit_mynetworks, reject_unauth_destination") : cur) +
                             ", reject_unverified_recipient"));
      return;  // one finding: the same fix serves every service
    }
  }

  void unlisted_recipient() {
    per_service("smtpd_reject_unlisted_recipient", [&](const std::string& v, const MasterService* svc) {
      if (is_yes(v) || !text::iequals(text::trim(v), "no")) return;
      add("postfix.reject-unlisted-recipient-off", Severity::kHigh,
          svc ? where_service(*svc) : where_main("smtpd_reject_unlisted_recipient"),
          "smtpd_reject_unlisted_recipient = no" + std::string(svc ? " for the " + svc->name + " service" : ""),
          "smtpd then accepts mail for recipients that no table lists, even where the tables exist, and the "
          "undeliverable mail is bounced later to its (often forged) sender",
          svc ? postconf_px(*svc, "smtpd_reject_unlisted_recipient")
              : postconf_e("smtpd_reject_unlisted_recipient", "yes"));
    });
  }

  void unknown_recipient_checks() {
    per_service("receive_override_options", [&](const std::string& v, const MasterService* svc) {
      auto items = split_list(v);
      if (!contains_item(items, "no_unknown_recipient_checks")) return;
      std::erase_if(items, [](const std::string& i) { return text::iequals(i, "no_unknown_recipient_checks"); });
      add("postfix.unknown-recipient-checks-off", Severity::kHigh,
          svc ? where_service(*svc) : where_main("receive_override_options"),
          "receive_override_options has no_unknown_recipient_checks on a service that takes mail from the Internet",
          "this option is meant for the reinjection smtpd behind a content filter; on a public service it "
          "turns off the unknown-recipient checks, so mail for nonexistent users is accepted and bounced later",
          svc ? pc_ + " -P '" + svc->name + "/" + svc->type + "/receive_override_options=" + join(items, ",") +
                    "' && " + reload_ + "   (master.cf line " + std::to_string(svc->line) + ")"
              : postconf_e("receive_override_options", join(items, ", ")));
    });
  }

  void static_maps() {
    struct Rule {
      const char* param;
      Severity sev;
      bool needs_local;
    };
    for (const Rule& r : {Rule{"relay_recipient_maps", Severity::kHigh, false},
                          Rule{"local_recipient_maps", Severity::kHigh, true},
                          Rule{"virtual_mailbox_maps", Severity::kHigh, false},
                          Rule{"virtual_alias_maps", Severity::kMedium, false}}) {
      if (r.needs_local && mydestination_.empty()) continue;
      const auto maps = split_list(expand(in_.main, raw_value(in_.main, r.param)));
      for (const auto& m : maps) {
        if (!text::istarts_with(m, "static:")) continue;
        add("postfix.static-recipient-map", r.sev, where_main(r.param),
            std::string(r.param) + " contains " + m + ", which matches every address",
            "a static: table answers every lookup, so every recipient counts as valid: mail for users that do "
            "not exist is accepted, and what the next stage cannot deliver is bounced to the sender",
            "replace " + m + " in " + r.param + " with a table of the real recipients, e.g. " +
                postconf_e(r.param, "hash:" + (in_.config_dir.empty() ? std::string("/etc/postfix") : in_.config_dir) +
                                        "/" + std::string(r.param).substr(0, std::string(r.param).find("_maps"))));
      }
    }
  }

  // The catch-all keys of one virtual alias table source.
  void scan_alias_text(const std::string& map, const std::string& path, std::string_view text, bool regex) {
    std::size_t lineno = 0, found = 0;
    while (!text.empty() && found < kMaxFindingsPerMap) {
      const auto nl = text.find('\n');
      std::string_view l = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      ++lineno;
      if (l.empty() || text::is_space(l.front()) || l.front() == '#') continue;
      std::string_view key = l.substr(0, std::min(l.size(), l.find_first_of(" \t")));
      bool catch_all = false;
      if (regex) {
        if (key.size() > 2 && (key.front() == '/' || key.front() == '!')) {
          std::string_view pat = key.substr(key.front() == '!' ? 2 : 1);
          for (std::string_view p : {"@", "^.*@", ".*@", "^.+@", "^[^@]+@", "^[^@]*@", "^(.*)@", "^(.+)@"}) {
            if (pat.starts_with(p)) catch_all = true;
          }
        }
      } else {
        catch_all = key.size() > 1 && key.front() == '@';
      }
      if (!catch_all) continue;
      ++found;
      const bool hashed = !regex && !text::istarts_with(map, "texthash:") && !text::istarts_with(map, "inline:");
      add("postfix.catch-all-alias", Severity::kMedium, path + ":" + std::to_string(lineno),
          "virtual alias catch-all `" + std::string(text::trim(l)) + "` in " + map,
          "a catch-all accepts mail for every local part of the domain, the random addresses spammers and "
          "dictionary attacks use among them; whatever its target cannot take is bounced to the (often "
          "forged) sender, and the domain can no longer refuse unknown users",
          "delete line " + std::to_string(lineno) + " of " + path + " and list the real addresses instead" +
              (hashed ? ", then postmap " + path : std::string()) + " && " + reload_);
    }
  }

  void catch_all_aliases() {
    const auto maps = split_list(expand(in_.main, raw_value(in_.main, "virtual_alias_maps")));
    for (const auto& m : maps) {
      const auto colon = m.find(':');
      if (colon == std::string::npos) continue;
      const std::string type = text::ascii_lower(std::string_view(m).substr(0, colon));
      std::string arg = m.substr(colon + 1);
      if (type == "inline") {
        std::string body = arg;
        if (body.size() >= 2 && body.front() == '{' && body.back() == '}') body = body.substr(1, body.size() - 2);
        std::string lines;
        for (auto& item : split_list(body)) {
          const auto eq = item.find('=');
          lines += (eq == std::string::npos ? item : item.substr(0, eq) + " " + item.substr(eq + 1)) + "\n";
        }
        scan_alias_text(m, "main.cf", lines, false);
        continue;
      }
      const bool regex = type == "regexp" || type == "pcre";
      const bool file = regex || type == "hash" || type == "btree" || type == "lmdb" || type == "cdb" ||
                        type == "dbm" || type == "texthash" || type == "sdbm";
      if (!file || arg.empty() || arg.front() != '/') {
        if (type != "proxy") s_.notes.push_back("virtual_alias_maps " + m + " not read (only file tables are)");
        continue;
      }
      if (!in_.read_file) continue;
      auto text = in_.read_file(arg);
      if (!text) {
        s_.notes.push_back("virtual_alias_maps " + m + ": " + text.error().message());
        continue;
      }
      scan_alias_text(m, arg, *text, regex);
    }
  }

  void luser_relay() {
    if (mydestination_.empty()) return;
    const auto v = expand(in_.main, raw_value(in_.main, "luser_relay"));
    if (text::trim(v).empty()) return;
    add("postfix.luser-relay", Severity::kMedium, where_main("luser_relay"),
        "luser_relay = " + std::string(text::trim(raw_value(in_.main, "luser_relay"))),
        "luser_relay sends mail for unknown local users somewhere instead of refusing it, and needs an empty "
        "local_recipient_maps: every local part of the local domains is accepted",
        pc_ + " -X luser_relay && " + reload_ + "   (and set local_recipient_maps to the table of local users)");
  }

  void soft_bounce() {
    if (!is_yes(expand(in_.main, raw_value(in_.main, "soft_bounce")))) return;
    add("postfix.soft-bounce", Severity::kMedium, where_main("soft_bounce"), "soft_bounce = yes",
        "soft_bounce turns every 5xx refusal into a 4xx deferral: senders' servers retry for days, then bounce "
        "the mail to its sender themselves (forged for spam), and Postfix's own bounces are kept in the queue; "
        "it is meant for testing, never to be left on",
        postconf_e("soft_bounce", "no"));
  }

  void unknown_local_code() {
    if (mydestination_.empty()) return;
    const std::string code = expand(in_.main, raw_value(in_.main, "unknown_local_recipient_reject_code"));
    const std::string_view v = text::trim(code);
    if (v.empty() || v.front() != '4') return;
    add("postfix.unknown-recipient-tempfail", Severity::kLow, where_main("unknown_local_recipient_reject_code"),
        "unknown_local_recipient_reject_code = " + std::string(v),
        "unknown local users get a temporary refusal: the sending server retries, then bounces to the sender "
        "itself; a temporary code is for testing a new recipient table only",
        postconf_e("unknown_local_recipient_reject_code", "550"));
  }

  void sender_verification() {
    std::set<std::string> seen;
    for (const auto* svc : services_) {
      if (!contains_item(restrictions(svc), "reject_unverified_sender")) continue;
      if (!seen.insert("x").second) break;
      add("postfix.sender-verification", Severity::kLow, in_.main.source,
          "reject_unverified_sender probes the sender address of incoming mail",
          "for spam the sender is forged: each probe goes to an innocent domain's server, which sees a "
          "stream of RCPT probes for its users (ADDRESS_VERIFICATION_README warns against using it on all mail)",
          "remove reject_unverified_sender from the smtpd_*_restrictions that list it, or limit it to the "
          "sender domains that need it with check_sender_access");
    }
  }

  void filters() {
    const std::string filter = after_queue_filter(in_);
    if (!filter.empty()) {
      s_.notes.push_back("content_filter = " + filter +
                         ": an after-queue filter; whatever it refuses after Postfix accepted the mail becomes a "
                         "bounce. Check its settings (--amavis for amavisd-new): it must discard or quarantine, "
                         "never bounce");
    }
    const auto milters = split_list(expand(in_.main, raw_value(in_.main, "smtpd_milters")));
    const std::string action_value = expand(in_.main, raw_value(in_.main, "milter_default_action"));
    const std::string_view action = text::trim(action_value);
    if (milters.empty() || !text::iequals(action, "accept")) return;
    if (filter.empty()) {
      s_.notes.push_back("milter_default_action = accept: when a milter fails, mail passes unchecked");
      return;
    }
    add("postfix.milter-accept-then-filter", Severity::kMedium, where_main("milter_default_action"),
        "milter_default_action = accept in front of the after-queue filter " + filter,
        "when the milter (" + join(milters, ", ") + ") fails, Postfix accepts the mail unchecked and the "
        "after-queue filter judges it later: a refusal then is a bounce to the (often forged) sender instead "
        "of a refusal in the SMTP dialogue",
        postconf_e("milter_default_action", "tempfail"));
  }

  const PostfixInput& in_;
  Section& s_;
  std::string pc_;
  std::string reload_;  // "postfix reload", with -c DIR for another instance
  std::vector<const MasterService*> services_;
  MasterService implicit_;
  std::vector<std::string> mydestination_;
};

}  // namespace

std::string after_queue_filter(const PostfixInput& in) {
  std::string out(text::trim(expand(in.main, raw_value(in.main, "content_filter"))));
  for (const auto& svc : in.master) {
    if (!svc.public_smtpd() || svc.authenticated_only()) continue;
    if (auto v = svc.override_of("content_filter")) out = std::string(text::trim(expand(in.main, *v, &svc.overrides)));
  }
  return out;
}

Section lint_postfix(const PostfixInput& in, std::string target) {
  Section s;
  s.target = std::move(target);
  Linter(in, s).run();
  return s;
}

}  // namespace backstop::audit
