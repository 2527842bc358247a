"""Peer of the bulk benchmark: the same load through Microsoft's Python client
(PowerPlatform-Dataverse-Client), its bulk create (`records.create(table, [dicts])`, which
sends CreateMultiple), chunks of 1,000 records, four chunks at a time (the emulator's
x-ms-dop-hint), one client per worker thread. Reads BULK_URL, BULK_TOKEN, BULK_RECORDS.

The client refuses a plain-http URL at construction; the emulator serves http on loopback, so
the client is built with an https URL and its private `_base_url` is set to the emulator's
before the first request.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient

URL = os.environ["BULK_URL"]
TOKEN = os.environ["BULK_TOKEN"]
RECORDS = int(os.environ["BULK_RECORDS"])
CHUNK = 1000
WORKERS = 4


class FixedToken:
    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 24 * 3600)


def client():
    c = DataverseClient("https://placeholder.invalid", FixedToken())
    c._base_url = URL.rstrip("/")
    return c


def load(chunks):
    c = client()
    done = 0
    for start in chunks:
        rows = [{"name": f"python {i}"} for i in range(start, min(start + CHUNK, RECORDS))]
        ids = c.records.create("account", rows)
        done += len(ids)
    return done


starts = list(range(0, RECORDS, CHUNK))
shares = [starts[w::WORKERS] for w in range(WORKERS)]
t0 = time.time()
with ThreadPoolExecutor(WORKERS) as pool:
    total = sum(pool.map(load, shares))
print(f"{total} {time.time() - t0:.2f}")
sys.exit(0 if total == RECORDS else 1)
