require ["vacation"];
# rule:[Out of office]
if true
{
	vacation :subject "Out of office" :from "alice@example.org" "I am out of the office until Monday.";
}
