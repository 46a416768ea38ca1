"""`aiinfra audit`: what is deployed on AWS now, read with boto3, judged against the stack's offline plan (drift)
and by the policy pack (the same rules `plan` applies, over the analyzer protocol, on the live properties)."""
