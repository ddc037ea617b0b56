// Small realistic messages for the daemon tests (our own text).
#pragma once

#include <string>

namespace backstop::daemon::testing {

// A Postfix-style DSN (multipart/report) returning a message whose
// Message-ID is `original_id`, sent by `original_from` to `original_to`.
inline std::string dsn(const std::string& original_id, const std::string& original_from,
                       const std::string& original_to) {
  return "Return-Path: <>\r\n"
         "From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)\r\n"
         "Subject: Undelivered Mail Returned to Sender\r\n"
         "To: " + original_from + "\r\n"
         "Message-Id: <20261127101010.ABC123@mx.remote.example>\r\n"
         "Auto-Submitted: auto-replied\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/report; report-type=delivery-status;\r\n"
         "\tboundary=\"BOUNDARY.1\"\r\n"
         "\r\n"
         "This is a MIME-encapsulated message.\r\n"
         "\r\n"
         "--BOUNDARY.1\r\n"
         "Content-Description: Notification\r\n"
         "Content-Type: text/plain; charset=us-ascii\r\n"
         "\r\n"
         "This is the mail system at host mx.remote.example.\r\n"
         "\r\n"
         "I'm sorry to have to inform you that your message could not\r\n"
         "be delivered to one or more recipients.\r\n"
         "\r\n"
         "<" + original_to + ">: host mail.remote.example said: 550 5.1.1 User unknown\r\n"
         "\r\n"
         "--BOUNDARY.1\r\n"
         "Content-Description: Delivery report\r\n"
         "Content-Type: message/delivery-status\r\n"
         "\r\n"
         "Reporting-MTA: dns; mx.remote.example\r\n"
         "Arrival-Date: Fri, 27 Nov 2026 10:10:09 +0000 (UTC)\r\n"
         "\r\n"
         "Final-Recipient: rfc822; " + original_to + "\r\n"
         "Original-Recipient: rfc822;" + original_to + "\r\n"
         "Action: failed\r\n"
         "Status: 5.1.1\r\n"
         "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
         "\r\n"
         "--BOUNDARY.1\r\n"
         "Content-Description: Undelivered Message Headers\r\n"
         "Content-Type: text/rfc822-headers\r\n"
         "\r\n"
         "Received: from relay.example.org (relay.example.org [192.0.2.25])\r\n"
         "\tby mx.remote.example (Postfix) with ESMTPS id 4Xyz\r\n"
         "\tfor <" + original_to + ">; Fri, 27 Nov 2026 10:10:08 +0000 (UTC)\r\n"
         "From: " + original_from + "\r\n"
         "To: " + original_to + "\r\n"
         "Subject: lunch\r\n"
         "Message-ID: <" + original_id + ">\r\n"
         "\r\n"
         "--BOUNDARY.1--\r\n";
}

inline std::string plain(const std::string& from, const std::string& to, const std::string& id) {
  std::string s = "From: " + from + "\r\nTo: " + to + "\r\nSubject: hello\r\n";
  if (!id.empty()) s += "Message-ID: <" + id + ">\r\n";
  return s + "\r\nJust a note.\r\n";
}

}  // namespace backstop::daemon::testing
