#!/usr/bin/env python3
"""Provision the SIP benchmark contract (../shared/bench/gen-users.sh) in Strowger
through its REST API, as a provider's script would:

  provision-users.py HTTP_ADDR MASTER_API_KEY USERS_CSV

USERS_CSV lines are "user;password;domain" (all one domain). Creates one account whose
realm is that domain, one device per user (SIP username/password), and for every user
of the second half (the callees) a callflow whose number is the username, ringing that
device, so "INVITE sip:userNNNNN@domain" reaches it. Prints the account id.
"""
import http.client
import json
import sys
import threading


def call(conn, method, path, token=None, data=None):
    body = json.dumps({"data": data}) if data is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    raw = res.read()
    env = json.loads(raw) if raw else {}
    if res.status >= 300:
        raise SystemExit("%s %s: %d %s" % (method, path, res.status, raw[:300]))
    return env


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    addr, key, users_csv = sys.argv[1:]
    host, port = addr.rsplit(":", 1)
    users = [l.strip().split(";") for l in open(users_csv) if l.strip()]
    domain = users[0][2]
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    auth = call(conn, "PUT", "/v2/api_auth", data={"api_key": key})
    token, master = auth["auth_token"], auth["data"]["account_id"]
    acct = call(conn, "PUT", "/v2/accounts/" + master, token,
                {"name": "SIP benchmark", "realm": domain})["data"]["id"]
    half = len(users) // 2
    errors = []

    def worker(part):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for i, (user, pw, _) in part:
                dev = call(c, "PUT", "/v2/accounts/%s/devices" % acct, token,
                           {"name": user, "sip": {"username": user, "password": pw}})["data"]["id"]
                if i >= half:
                    call(c, "PUT", "/v2/accounts/%s/callflows" % acct, token,
                         {"name": user, "numbers": [user],
                          "flow": {"module": "device", "data": {"id": dev, "timeout": 20}}})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    items = list(enumerate(users))
    threads = [threading.Thread(target=worker, args=(items[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("provisioning failed: %s" % errors[0])
    print(acct)


if __name__ == "__main__":
    main()
