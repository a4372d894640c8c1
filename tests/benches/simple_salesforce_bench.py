"""The baseline of the salesforce_client bench: simple-salesforce doing the
same two operations on the same emulator.

Usage: simple_salesforce_bench.py BASE_URL CLIENT_ID CLIENT_SECRET RECORDS

Prints one JSON object: the seconds each operation took and the records it
handled. The query reads every page of the REST query (query_all); the
upsert sends a Bulk API 2.0 job and reads its successful and failed
records back, as Gust's write_many does. The client only speaks https; a
transport adapter sends its requests over plain http.
"""

import json
import sys
import time

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce


class PlainHttp(HTTPAdapter):
    """Sends the client's https:// requests to the emulator over http."""

    def send(self, request, **kwargs):
        request.url = "http://" + request.url[len("https://"):]
        return super().send(request, **kwargs)


def main():
    base_url, client_id, client_secret, records = sys.argv[1:5]
    records = int(records)
    session = requests.Session()
    session.mount("https://", PlainHttp())
    token = session.post(
        f"{base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    ).json()["access_token"]
    sf = Salesforce(instance=base_url.removeprefix("http://"), session_id=token, session=session, version="60.0")

    started = time.perf_counter()
    found = sf.query_all("SELECT Id, LastName, Company, Email FROM Lead")
    query_seconds = time.perf_counter() - started
    assert len(found["records"]) == records, len(found["records"])

    rows = [{"Erp_Id__c": f"E-{n}", "Name": f"Account {n}", "NumberOfEmployees": str(n)} for n in range(records)]
    started = time.perf_counter()
    # wait=0: poll at once, as Gust does (the default sleeps 5 s first).
    jobs = sf.bulk2.Account.upsert(records=rows, external_id_field="Erp_Id__c", wait=0)
    results = 0
    for job in jobs:
        results += sf.bulk2.Account.get_successful_records(job["job_id"]).count("\n") - 1
        results += sf.bulk2.Account.get_failed_records(job["job_id"]).count("\n") - 1
    upsert_seconds = time.perf_counter() - started
    assert results == records, results

    print(json.dumps({
        "query_records": records,
        "query_seconds": query_seconds,
        "upsert_records": records,
        "upsert_seconds": upsert_seconds,
    }))


main()
