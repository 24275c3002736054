#!/usr/bin/env python3
"""Signs Slack sample events (events/slack/*.json) as Slack signs a request: the headers
X-Slack-Request-Timestamp and X-Slack-Signature = v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}")).

Herald refuses a request more than 5 minutes old, as Slack advises, so a sample must be signed
afresh before `cargo lambda invoke` sends it:

    python3 scripts/sign_slack_event.py events/slack/slash-bind.json > /tmp/now.json
    cargo lambda invoke herald-slack --data-file /tmp/now.json

Options: --at UNIX_SECONDS (default: now), --secret S (default: the samples' secret, the one in
Slack's own documented example), --in-place. Files named *invalid-signature* keep a wrong one.
"""

import argparse
import hashlib
import hmac
import json
import sys
import time

SAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def sign(event: dict, secret: str, at: int) -> dict:
    ts = str(at)
    body = event["body"].encode()
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    event["headers"]["x-slack-request-timestamp"] = ts
    event["headers"]["x-slack-signature"] = sig
    return event


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--at", type=int, default=None)
    p.add_argument("--secret", default=SAMPLE_SECRET)
    p.add_argument("--in-place", action="store_true")
    a = p.parse_args()
    at = a.at if a.at is not None else int(time.time())
    for f in a.files:
        with open(f) as fh:
            event = json.load(fh)
        secret = "another-app-secret-0000000000000" if "invalid-signature" in f else a.secret
        signed = json.dumps(sign(event, secret, at), indent=2, ensure_ascii=False) + "\n"
        if a.in_place:
            with open(f, "w") as fh:
                fh.write(signed)
        else:
            sys.stdout.write(signed)


if __name__ == "__main__":
    main()
