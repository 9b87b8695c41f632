"""A Lambda handler that stands in for the finish function in
scripts/awslocal/test_awslocal.py: it runs under aws-lambda-rie through
python_runtime.py and appends each event it gets, one JSON line, to the file
named by FINISH_RECORD_FILE, so the test sees what Step Functions sent the
record steps. (The real finish function is Go; the aws-local e2e runs it.)"""

import json
import os


def handler(event, context):
    with open(os.environ["FINISH_RECORD_FILE"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, "request_id": context.aws_request_id}) + "\n")
    return {"recorded": True}
