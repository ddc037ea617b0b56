// Table-driven checks of the built-in rules on small hand-written messages of
// each kind (several products and languages) and on look-alike negatives.
#include <gtest/gtest.h>

#include <string>

#include "classify/classifier.h"
#include "mail/message.h"

namespace backstop::classify {
namespace {

struct Case {
  const char* name;
  Kind want;
  const char* headers;  // without the trailing blank line
  const char* body;
};

const Case kCases[] = {
    // Bounces in several MTAs and languages.
    {"exim", Kind::kBounce,
     "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nSubject: Mail delivery failed: returning message to sender",
     "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered.\n"},
    {"sendmail", Kind::kBounce,
     "From: Mail Delivery Subsystem <MAILER-DAEMON@host.example.net>\nSubject: Returned mail: see transcript for details",
     "The original message was received at Mon, 1 Jan 2024 from host [192.0.2.1]\n\n   ----- The following addresses had permanent fatal errors -----\n"},
    {"gmail", Kind::kBounce,
     "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nSubject: Delivery Status Notification (Failure)",
     "Delivery to the following recipient failed permanently:\n\n     gone@example.net\n"},
    {"exchange-de", Kind::kBounce,
     "From: postmaster@firma.example\nSubject: Unzustellbar: Angebot",
     "Ihre Nachricht konnte nicht an alle Empfänger zugestellt werden.\n"},
    {"delay", Kind::kBounce,
     "From: MAILER-DAEMON@mx.example.net\nSubject: Warning: could not send message for past 4 hours",
     "This is a warning message only. Delivery attempts will continue.\n"},
    {"dutch", Kind::kBounce,
     "From: postmaster@bedrijf.example\nSubject: Onbestelbaar: offerte",
     "Uw bericht kon niet worden bezorgd bij de volgende ontvangers.\n"},
    {"russian", Kind::kBounce,
     "From: MAILER-DAEMON@mail.example.ru\nSubject: =?utf-8?b?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?=",
     "Сообщение не может быть доставлено.\n"},
    {"japanese", Kind::kBounce,
     "From: postmaster@example.jp\nSubject: =?utf-8?b?44Oh44OD44K744O844K444KS6YWN5L+h44Gn44GN44G+44Gb44KT?=",
     "次の宛先にメッセージを配信できませんでした。\n"},
    {"chinese", Kind::kBounce,
     "From: postmaster@example.cn\nSubject: =?utf-8?b?57O757uf6YCA5L+h?=",
     "您发送的邮件无法投递到以下地址。\n"},
    // Virus notices.
    {"amavis-virus", Kind::kVirusNotice,
     "From: Content-filter at mx.example.com <postmaster@mx.example.com>\nSubject: VIRUS (Eicar-Test-Signature) IN MAIL FROM YOU",
     "Our content checker found\n    virus: Eicar-Test-Signature\nin an email to a recipient from your address.\n"},
    {"mailscanner", Kind::kVirusNotice,
     "From: MailScanner <mailscanner@gw.example.org>\nSubject: Warning: E-mail viruses detected",
     "Our virus detector has just been triggered by a message you sent. The attachment was quarantined.\n"},
    // Challenges.
    {"spamarrest", Kind::kChallenge,
     "From: someone@example.com\nSubject: Please verify your email address\nX-Spamarrest-noauth: 1",
     "I use a program to protect myself from junk mail. Please click the link to verify that you are a human.\n"},
    {"tmda", Kind::kChallenge,
     "From: person-confirm-1234.abcd@example.com\nSubject: Re: hello\nMessage-ID: <1234.abcd-tmda-confirm@example.com>",
     "Your message is being held until you confirm it.\n"},
    {"generic-cr", Kind::kChallenge,
     "From: user@example.org\nSubject: Sender verification required",
     "To control spam I now allow messages only from senders I have approved. This is a one-time inconvenience.\n"},
    // Subscription confirmations.
    {"mlmmj", Kind::kSubscriptionConfirm,
     "From: list+help@lists.example.org\nSubject: Confirm subscribe to list@lists.example.org",
     "Hi, this is the mlmmj program managing the list. Somebody (probably you) requested to subscribe.\nTo confirm your subscription, reply to this message.\n"},
    {"ezmlm", Kind::kSubscriptionConfirm,
     "From: list-help@example.org\nSubject: confirm subscribe to list@example.org",
     "Hi! This is the ezmlm program. I'm managing the list@example.org mailing list.\n"},
    {"double-opt-in", Kind::kSubscriptionConfirm,
     "From: Shop News <news@shop.example.com>\nSubject: Please confirm your subscription",
     "Click the link below to confirm your subscription. If you did not request this, simply ignore this email.\n"},
    {"german-optin", Kind::kSubscriptionConfirm,
     "From: newsletter@laden.example\nSubject: Bitte bestätigen Sie Ihre Newsletter-Anmeldung",
     "Klicken Sie auf den Link:\nhttps://laden.example/newsletter/optin?token=3f9a0c7e21b44d6d8e5f0a1b\n"},
    // Autoreplies.
    {"rfc3834", Kind::kAutoreply,
     "From: a@example.org\nSubject: Auto: budget\nAuto-Submitted: auto-replied",
     "I am on vacation until Monday.\n"},
    {"french-ooo", Kind::kAutoreply,
     "From: b@example.fr\nSubject: =?utf-8?q?R=C3=A9ponse_automatique=C2=A0=3A_devis?=",
     "Je suis absent du bureau jusqu'au 5 mai.\n"},
    {"spanish-ooo", Kind::kAutoreply,
     "From: c@example.es\nSubject: =?utf-8?q?Respuesta_autom=C3=A1tica=3A_reuni=C3=B3n?=",
     "Estoy fuera de la oficina.\n"},
    {"swedish-ooo", Kind::kAutoreply,
     "From: d@example.se\nSubject: Automatiskt svar: möte\nX-Auto-Response-Suppress: All",
     "Jag är på semester.\n"},
    {"ticket", Kind::kAutoreply,
     "From: support@vendor.example\nSubject: [Ticket #4711] We have received your request\nAuto-Submitted: auto-replied",
     "Thank you for contacting support. Your ticket number is 4711.\n"},
    // GNU Mailman 3's notices in its catalogues' non-Latin translations
    // (rules generated by scripts/mailman-phrases.py), sent with the list's
    // own List-* headers.
    {"mailman-held-ru", Kind::kAutoreply,
     "From: team-bounces@lists.example.ru\nTo: poster@example.net\nList-Id: <team.lists.example.ru>\n"
     "X-Mailman-Version: 3.3.8\nPrecedence: bulk\n"
     "Subject: =?utf-8?b?0JLQsNGI0LUg0YHQvtC+0LHRidC10L3QuNC1INCyINGA0LDRgdGB0YvQu9C60YMgdGVhbUBsaXN0cy5leGFtcGxlLnJ1INC+0LbQuNC00LDQtdGCINC+0LTQvtCx0YDQtdC90LjRjyDQvNC+0LTQtdGA0LDRgtC+0YDQsA==?=",
     "Your mail to 'team@lists.example.ru' with the subject\n\n    Budget\n\n"
     "Is being held until the list moderator can review it for approval.\n"},
    {"mailman-held-ko", Kind::kAutoreply,
     "From: team-bounces@lists.example.kr\nTo: poster@example.net\nList-Id: <team.lists.example.kr>\n"
     "X-Mailman-Version: 3.3.8\nPrecedence: bulk\n"
     "Subject: =?utf-8?b?dGVhbUBsaXN0cy5leGFtcGxlLmty7JeQIOuMgO2VnCDqt4DtlZjsnZgg66mU7Iuc7KeA64qUIOykkeyerOyekCDsirnsnbjsnYQg6riw64uk66a964uI64uk?=",
     "Your mail to 'team@lists.example.kr' with the subject\n\n    Budget\n\n"
     "Is being held until the list moderator can review it for approval.\n"},
    // Subject and template title in Chinese, no command address: two targets.
    {"mailman-join-zh", Kind::kSubscriptionConfirm,
     "From: team-request@lists.example.cn\nTo: new@example.net\n"
     "Subject: =?utf-8?b?5L2g6ZyA6KaB56Gu6K6k5Yqg5YWlIHRlYW1AbGlzdHMuZXhhbXBsZS5jbiDpgq7ku7bliJfooajjgII=?=",
     "电子邮件地址注册确认\n\n你好，这里是 lists.example.cn 的 GNU Mailman 服务器。\n"},
    {"mailman-rejected-he", Kind::kBounce,
     "From: team-bounces@lists.example.il\nTo: poster@example.net\nList-Id: <team.lists.example.il>\n"
     "X-Mailman-Version: 3.3.8\nPrecedence: bulk\n"
     "Subject: =?utf-8?b?15TXkden16nXlCDXnNeo16nXmdee16og15TXk9eZ15XXldeoIOKAnlRlYW3igJ0g16DXk9eX16rXlA==?=",
     "    Posting of your message titled \"Budget\"\n\n"
     "נדחתה על ידי אחד ממפקחי הרשימה.  בקשתך נדחתה עם ההערה הבאה מצד הפיקוח:\n"},
    // Sympa's requests in its catalogues' non-Latin translations (rules
    // generated by scripts/sympa-phrases.py); Sympa marks them
    // "Auto-Submitted: auto-replied", which alone would make an autoreply.
    {"sympa-confirm-post-ru", Kind::kChallenge,
     "From: SYMPA <sympa@lists.example.ru>\nTo: poster@example.net\nAuto-Submitted: auto-replied\n"
     "Subject: =?utf-8?b?0J/QvtC00YLQstC10YDQtNC40YLQtSDQstCw0YjQtSDRgdC+0L7QsdGJ0LXQvdC40LUg0LIg0YDQsNGB0YHRi9C70LrRgyB0ZWFt?=",
     "Чтобы разослать вложенное сообщение в team, перейдите по ссылке:\n\n"
     "https://lists.example.ru/sympa/distribute/team/0123\n"},
    {"sympa-auth-ja", Kind::kSubscriptionConfirm,
     "From: SYMPA <sympa@lists.example.jp>\nTo: new@example.net\nAuto-Submitted: auto-replied\n"
     "Subject: =?utf-8?b?TWFpbGluZyBsaXN0cyBzZXJ2aWNlIC8gdGVhbSDjgbjjga7oqq3ogIXnmbvpjLI=?=",
     "https://lists.example.jp/sympa/auth/0123456789abcdef/subscribe?email=new%40example.net\n"},
    {"sympa-confirm-key", Kind::kChallenge,
     "From: SYMPA <sympa@lists.example.org>\nTo: poster@example.net\nAuto-Submitted: auto-replied\n"
     "Subject: CONFIRM 0123456789abcdef0123456789abcdef",
     "Or send a message to sympa@lists.example.org with the following subject:\n"
     "CONFIRM 0123456789abcdef0123456789abcdef\n"},
    // Negatives that look like the above.
    // A person's reply quoting Mailman's Russian hold subject.
    {"ham-re-mailman-held-ru", Kind::kNone,
     "From: Ann <ann@example.ru>\nTo: team-owner@lists.example.ru\n"
     "Subject: =?utf-8?b?UmU6INCS0LDRiNC1INGB0L7QvtCx0YnQtdC90LjQtSDQsiDRgNCw0YHRgdGL0LvQutGDIHRlYW1AbGlzdHMuZXhhbXBsZS5ydSDQvtC20LjQtNCw0LXRgiDQvtC00L7QsdGA0LXQvdC40Y8g0LzQvtC00LXRgNCw0YLQvtGA0LA=?=",
     "Почему моё письмо задержано? Я подписана на рассылку.\n"},
    // The Chinese confirmation subject alone (one phrase) is no kind.
    {"mailman-join-zh-subject-only", Kind::kNone,
     "From: Li <li@example.cn>\nTo: team@lists.example.cn\n"
     "Subject: =?utf-8?b?5L2g6ZyA6KaB56Gu6K6k5Yqg5YWlIHRlYW1AbGlzdHMuZXhhbXBsZS5jbiDpgq7ku7bliJfooajjgII=?=",
     "我收到了这封邮件，但我没有申请。\n"},
    {"ham-re-undeliverable", Kind::kNone,
     "From: Ann <ann@example.org>\nSubject: Re: undeliverable mail from your server?",
     "I think your server returned my message; it said user unknown. Can you check?\n"},
    {"ham-vacation-plans", Kind::kNone,
     "From: Bo <bo@example.org>\nSubject: vacation plans",
     "I will be out of the office next week, on vacation in Spain.\n"},
    {"ham-virus-discussion", Kind::kNone,
     "From: Cy <cy@example.org>\nSubject: Re: clamav question\nList-Id: <av.lists.example.org>\nList-Post: <mailto:av@lists.example.org>",
     "ClamAV found a virus in the test file; the attachment was quarantined as expected.\n"},
    {"ham-subscription-talk", Kind::kNone,
     "From: Di <di@example.org>\nSubject: Re: list settings\nList-Id: <x.lists.example.org>\nList-Post: <mailto:x@lists.example.org>\nList-Archive: <https://lists.example.org/x>",
     "Mailman sends 'confirm your subscription' mails; someone (probably you) asked about them.\n"},
    {"newsletter-auto-generated", Kind::kNone,
     "From: news@shop.example.com\nSubject: Weekly deals\nAuto-Submitted: auto-generated\nList-Unsubscribe: <https://shop.example.com/u>",
     "New offers every week. To unsubscribe, click here.\n"},
};

class Kinds : public ::testing::TestWithParam<Case> {};

TEST_P(Kinds, BuiltinRulesGiveTheExpectedKind) {
  const Case& c = GetParam();
  auto rules = builtin_rules();
  ASSERT_TRUE(rules);
  const Classifier classifier(*rules);
  auto m = mail::parse_message(std::string(c.headers) +
                               "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                               "Content-Transfer-Encoding: 8bit\n\n" + c.body);
  ASSERT_TRUE(m);
  const Verdict v = classifier.classify(*m);
  std::string sig;
  for (const auto& s : v.signals) sig += " " + s;
  EXPECT_EQ(kind_name(v.kind), kind_name(c.want)) << c.name << ":" << sig;
}

INSTANTIATE_TEST_SUITE_P(Builtin, Kinds, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace backstop::classify
