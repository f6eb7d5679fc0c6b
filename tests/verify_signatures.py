"""Verifies recorded webhook calls with the Standard Webhooks reference library (PyPI
`standardwebhooks`), an implementation independent of the service's own signing code.

Usage: verify_signatures.py CALLS_JSON, where the file holds
{"secret": "whsec_...", "calls": [{"headers": {...}, "body": "..."}, ...]}.
Prints a JSON list with, for each call, "verified" or the library's reason for refusing it.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        recorded = json.load(f)
    webhook = Webhook(recorded["secret"])
    results = []
    for call in recorded["calls"]:
        try:
            webhook.verify(call["body"], call["headers"], json_parse=False)
            results.append("verified")
        except WebhookVerificationError as e:
            results.append(f"refused: {e}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
