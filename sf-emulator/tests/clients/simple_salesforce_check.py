"""simple-salesforce, a Salesforce client no one here wrote, against the emulator.

Usage: simple_salesforce_check.py BASE_URL CLIENT_ID CLIENT_SECRET

The client only speaks https; a transport adapter sends its requests to the
local emulator over plain http. Nothing else about the client is changed.
Exits non-zero (with the failed assertion) if the emulator answers anything
the client cannot use.
"""

import csv
import io
import os
import sys
import tempfile

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce


class PlainHttp(HTTPAdapter):
    """Sends the client's https:// requests to the emulator over http."""

    def send(self, request, **kwargs):
        request.url = "http://" + request.url[len("https://"):]
        return super().send(request, **kwargs)


def main():
    base_url, client_id, client_secret = sys.argv[1:4]
    session = requests.Session()
    session.mount("https://", PlainHttp())
    token = session.post(
        f"{base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    ).json()["access_token"]
    sf = Salesforce(instance=base_url.removeprefix("http://"), session_id=token, session=session, version="60.0")

    # Records: create, read, update, upsert, delete.
    created = sf.Account.create({"Name": "Python Acme", "NumberOfEmployees": 12})
    assert created["success"], created
    account_id = created["id"]
    assert sf.Account.get(account_id)["Name"] == "Python Acme"
    assert sf.Account.update(account_id, {"Phone": "555-0100"}) == 204
    assert sf.Account.get(account_id)["Phone"] == "555-0100"
    assert sf.Account.upsert("Erp_Id__c/PY-1", {"Name": "Upserted"}) == 201
    # An update by upsert answers 200 with a body since API 46.0.
    assert sf.Account.upsert("Erp_Id__c/PY-1", {"Name": "Upserted again"}) == 200
    assert sf.Account.get_by_custom_id("Erp_Id__c", "PY-1")["Name"] == "Upserted again"
    assert sf.Account.delete(account_id) == 204

    # Bulk 2.0 insert, then a paginated query_all over more than one page.
    rows = 2_300
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "contacts.csv")
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["LastName", "Email"])
            for n in range(rows):
                writer.writerow([f"Bulk {n:05}", f"bulk{n}@example.com"])
        results = sf.bulk2.Contact.insert(path)
    assert sum(result["numberRecordsProcessed"] for result in results) == rows, results
    assert sum(result["numberRecordsFailed"] for result in results) == 0, results

    everything = sf.query_all("SELECT Id, LastName FROM Contact WHERE LastName LIKE 'Bulk%'")
    assert everything["totalSize"] == rows, everything["totalSize"]
    assert len(everything["records"]) == rows
    page = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    assert not page["done"] and len(page["records"]) == 500, (page["done"], len(page["records"]))

    # Bulk 2.0 query: CSV pages.
    lines = []
    for chunk in sf.bulk2.Contact.query("SELECT LastName FROM Contact ORDER BY LastName", max_records=1_000):
        lines.extend(csv.reader(io.StringIO(chunk)))
    data = [line for line in lines if line and line != ["LastName"]]
    assert len(data) == rows, len(data)
    assert data[0] == ["Bulk 00000"], data[0]
    print(f"simple-salesforce: records, upsert, {rows} bulk rows, query_all and bulk query all worked")


if __name__ == "__main__":
    main()
