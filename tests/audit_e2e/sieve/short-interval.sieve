require ["vacation", "vacation-seconds", "fileinto"];
if header :contains "X-Spam-Flag" "YES" {
  fileinto "Junk";
  stop;
}
vacation :seconds 3600 :addresses ["bob@example.org"] :subject "Away"
text:
I am away and will answer when I am back.
.
;
