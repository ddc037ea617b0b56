// judge_smtp: the findings of a probe (smtp.h).
#include <cstdio>

#include "audit/smtp.h"

namespace backstop::audit {
namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

constexpr const char* kRecipientFix =
    "refuse unknown recipients during the SMTP dialogue: give the server the list of valid recipients "
    "(Postfix: relay_recipient_maps for relay_domains, local_recipient_maps for mydestination, "
    "virtual_mailbox_maps / virtual_alias_maps for virtual domains) or verify them with the next hop "
    "(Postfix: reject_unverified_recipient); `backstop audit postfix` on that host names the line";

}  // namespace

Section judge_smtp(std::string target, const ProbePlan& plan, const ProbeOutcome& o,
                   const CaptureResult* capture) {
  Section s;
  s.target = std::move(target);
  const std::string random_addr = plan.random_local + "@" + plan.domain;
  const std::string postmaster = "postmaster@" + plan.domain;
  if (!o.aborted.empty()) s.notes.push_back("probe ended early: " + o.aborted);
  if (o.ehlo_refused) s.notes.push_back("EHLO was refused; HELO was used");
  if (o.mail && o.mail->kind() != 2) {
    s.notes.push_back("MAIL FROM:<" + plan.sender + "> was answered " + o.mail->first_line() +
                      "; the recipient tests need a sender the server takes (--sender)");
  }
  if (o.rcpt_random) {
    const auto& r = *o.rcpt_random;
    if (r.kind() == 2) {
      s.findings.push_back(Finding{
          "smtp.accept-then-bounce", Severity::kHigh, s.target,
          "RCPT TO:<" + random_addr + "> (a random local part that cannot exist) was answered " + r.first_line(),
          "the server accepts mail for recipients it cannot deliver to; it must then bounce each such message "
          "to its envelope sender, which for spam and viruses is a forged, innocent address: backscatter",
          kRecipientFix});
    } else if (r.kind() == 4) {
      s.notes.push_back("RCPT TO:<" + random_addr + "> was answered " + r.first_line() +
                        " (temporary: greylisting or recipient verification in progress; run the probe again)");
    }
  }
  if (o.rcpt_postmaster && o.rcpt_postmaster->kind() == 5) {
    s.findings.push_back(Finding{
        "smtp.postmaster-refused", Severity::kMedium, s.target,
        "RCPT TO:<" + postmaster + "> was answered " + o.rcpt_postmaster->first_line(),
        "RFC 5321 §4.5.1 requires every domain that accepts mail to accept mail for postmaster; "
        "complaints about backscatter (and anything else) from other postmasters cannot reach you",
        "accept postmaster@" + plan.domain + " and deliver it to a person (Postfix: a line `postmaster@" +
            plan.domain + "  you@" + plan.domain + "` in virtual_alias_maps, or the postmaster alias for local domains)"});
  }
  const bool null_refused_mail = o.mail_null && o.mail_null->kind() == 5;
  const bool null_refused_rcpt = o.rcpt_null_postmaster && o.rcpt_null_postmaster->kind() == 5 &&
                                 !(o.rcpt_postmaster && o.rcpt_postmaster->kind() == 5);
  if (null_refused_mail || null_refused_rcpt) {
    const auto& r = null_refused_mail ? *o.mail_null : *o.rcpt_null_postmaster;
    s.findings.push_back(Finding{
        "smtp.null-sender-refused", Severity::kMedium, s.target,
        std::string(null_refused_mail ? "MAIL FROM:<>" : "RCPT TO:<" + postmaster + "> from the null sender") +
            " was answered " + r.first_line(),
        "RFC 5321 §4.5.5 and §6.1 require accepting the null sender: it is how real bounces and delivery "
        "reports arrive, including the ones that tell your users their mail was lost",
        "accept MAIL FROM:<> (Postfix: remove the check_sender_access entry or restriction that matches the "
        "empty sender; to stop backscatter, refuse only bounces that do not match your mail, e.g. with "
        "backstop serve)"});
  }
  for (const auto* r : {&o.mail_null, &o.rcpt_null_postmaster}) {
    if (*r && (*r)->kind() == 4) s.notes.push_back("the null sender got a temporary answer: " + (*r)->first_line());
  }
  if (capture != nullptr) {
    if (!capture->error.empty()) {
      s.notes.push_back("capture: " + capture->error);
    } else if (!capture->message_sent) {
      s.notes.push_back("capture: the probe message was not accepted, nothing to wait for");
    } else if (capture->bounce_received) {
      std::string title = "a bounce for the probe message came back after " + seconds_text(capture->seconds) +
                          " from <" + capture->envelope_from + ">, classified " + capture->kind;
      char conf[32];
      std::snprintf(conf, sizeof conf, " (confidence %.2f)", capture->confidence);
      title += conf;
      if (!capture->status.empty()) title += ": " + capture->status;
      s.findings.push_back(Finding{
          "smtp.bounce-captured", Severity::kHigh, s.target, title,
          "the message to <" + random_addr + "> was accepted during the SMTP dialogue and bounced afterwards: "
          "had its sender been forged, this bounce would have gone to an innocent third party",
          kRecipientFix});
    } else {
      s.notes.push_back("capture: no bounce within " + seconds_text(capture->waited_seconds) +
                        " (the server may drop such mail, or bounce it later than the wait)");
    }
  }
  return s;
}

}  // namespace backstop::audit
