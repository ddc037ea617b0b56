require ["reject"];
if header :contains "subject" "viagra" {
  reject "I do not want this.";
}
