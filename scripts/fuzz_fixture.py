"""Sets up what an outside client needs to test every operation of `tenantry serve`:
a tenant (made by the operator key), two owner API keys (one for every route, one for
the revocation route, which may revoke the key it is sent with), and a customer whose
admin has a password and signs in for a customer token. Prints shell assignments:

    OWNER_KEY=tk_...  SPARE_KEY=tk_...  CUSTOMER_TOKEN=eyJ...  TENANT_ID=ten_...

Usage: fuzz_fixture.py <base url> <operator key>. Standard library only.
"""

import json
import sys
import urllib.request


def call(base, method, path, key=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def main():
    base, operator = sys.argv[1].rstrip("/"), sys.argv[2]
    tenant = call(base, "POST", "/v1/tenants", operator, {
        "name": "Fuzz Partners", "slug": "fuzz", "kind": "partner",
        "owner": {"email": "owner@fuzz.example.com", "first_name": "Olive", "last_name": "Owner"},
    })
    tid = tenant["id"]
    call(base, "PUT", f"/v1/tenants/{tid}/branding", operator,
         {"product_name": "Fuzz", "registration_enabled": True})
    owner = call(base, "POST", f"/v1/tenants/{tid}/api-keys", operator,
                 {"name": "fuzz owner", "role": "owner"})["secret"]
    spare = call(base, "POST", f"/v1/tenants/{tid}/api-keys", operator,
                 {"name": "fuzz spare", "role": "owner"})["secret"]
    password = "Sup3r$ecret!"
    customer = call(base, "POST", "/v1/customers", owner, {
        "company": {"name": "Fuzz Customer"},
        "admin": {"first_name": "Ada", "last_name": "Admin",
                  "email": "ada@fuzz-customer.example.com", "password": password},
    })
    token = call(base, "POST", "/t/fuzz/login", None,
                 {"email": "ada@fuzz-customer.example.com", "password": password})["access_token"]
    print(f"OWNER_KEY={owner}")
    print(f"SPARE_KEY={spare}")
    print(f"CUSTOMER_TOKEN={token}")
    print(f"TENANT_ID={tid}")
    print(f"CUSTOMER_ID={customer['id']}")


if __name__ == "__main__":
    main()
