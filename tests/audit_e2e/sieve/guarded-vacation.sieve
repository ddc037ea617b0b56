require ["vacation", "fileinto"];
# Never answer lists, bulk or automated mail, nor spam.
if anyof (exists ["list-id", "list-unsubscribe", "list-post"],
          header :is "precedence" ["bulk", "list", "junk"],
          allof (exists "auto-submitted", not header :is "auto-submitted" "no")) {
  stop;
}
if header :contains "X-Spam-Flag" "YES" {
  fileinto "Junk";
  stop;
}
/* one reply per sender a week */
vacation :days 7 :subject "On holiday" "I am on holiday until the 20th.";
