// Test helper: small synthetic messages and a temporary directory.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace backstop::report::testing {

// A standard RFC 3464 DSN from a Postfix-like MTA.
inline std::string dsn_message(int n) {
  std::string id = "orig" + std::to_string(n) + "@sender.example.org";
  return "Return-Path: <>\n"
         "Received: from mx.example.net (mx.example.net [81.2.70.160])\n"
         "\tby mail.example.org (Postfix) with ESMTP id 4ABC; Tue,  1 Jul 2003 10:52:39 +0200\n"
         "Date: Tue,  1 Jul 2003 10:52:37 +0200 (CEST)\n"
         "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
         "Subject: Undelivered Mail Returned to Sender\n"
         "To: alice@example.org\n"
         "Delivered-To: alice@example.org\n"
         "Auto-Submitted: auto-replied\n"
         "MIME-Version: 1.0\n"
         "Content-Type: multipart/report; report-type=delivery-status;\n"
         "\tboundary=\"B1\"\n"
         "Message-Id: <dsn" + std::to_string(n) + "@mx.example.net>\n"
         "\n"
         "--B1\n"
         "Content-Type: text/plain\n"
         "\n"
         "This is the mail system at host mx.example.net.\n"
         "I'm sorry to have to inform you that your message could not\n"
         "be delivered to one or more recipients.\n"
         "\n"
         "<nobody@example.net>: host mx.example.net said: 550 5.1.1 User unknown\n"
         "\n"
         "--B1\n"
         "Content-Type: message/delivery-status\n"
         "\n"
         "Reporting-MTA: dns; mx.example.net\n"
         "\n"
         "Final-Recipient: rfc822; nobody@example.net\n"
         "Original-Recipient: rfc822;nobody@example.net\n"
         "Action: failed\n"
         "Status: 5.1.1\n"
         "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"
         "\n"
         "--B1\n"
         "Content-Type: text/rfc822-headers\n"
         "\n"
         "From: Alice <alice@example.org>\n"
         "To: nobody@example.net\n"
         "Subject: hello\n"
         "Message-ID: <" + id + ">\n"
         "\n"
         "--B1--\n";
}

inline std::string ham_message(int n) {
  return "Received: from out.example.com (out.example.com [93.184.216.34])\n"
         "\tby mail.example.org with ESMTP; Wed, 2 Jul 2003 09:00:00 +0000\n"
         "Date: Wed, 2 Jul 2003 09:00:00 +0000\n"
         "From: Bob <bob@example.com>\n"
         "To: alice@example.org\n"
         "Subject: lunch " + std::to_string(n) + "\n"
         "Message-ID: <ham" + std::to_string(n) + "@example.com>\n"
         "\n"
         "Shall we meet for lunch on Thursday?\n";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "backstop-scan-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& rel, const std::string& bytes) const {
    auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace backstop::report::testing
