"""Access control against DynamoDB Local: the plant cap under concurrent creates, a key's daily
quota under concurrent requests, and `python -m manage keys` working on the same table the
authorizer reads."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from devstack.template import ROOT
from powerfactor.access import keys as apikeys
from powerfactor.access import usage
from powerfactor.plants import logic as plants
from powerfactor.runtime.errors import InvalidApiKey, PlantLimitReached
from powerfactor.runtime.settings import Tier
from tests.support import OWNER, concurrently, error_kinds

CONCURRENCY = 20


@pytest.mark.parametrize("free", [1, 5])
def test_the_cap_holds_under_twenty_concurrent_creates_at_its_edge(
    local_aws, patient_storage, use_function_env, free
) -> None:
    cap = 10
    use_function_env("PlantsApiFunction", DynamoDbEndpoint=local_aws, MaxPlants=str(cap))
    for i in range(cap - free):
        plants.create_plant(OWNER, f"existing {i}")
    results, errors = concurrently(
        [lambda i=i: plants.create_plant(OWNER, f"racer {i}") for i in range(CONCURRENCY)]
    )
    assert len(results) == free, error_kinds(errors)
    assert len(errors) == CONCURRENCY - free
    assert all(isinstance(e, PlantLimitReached) for e in errors), error_kinds(errors)
    listed = plants.list_plants(OWNER, limit=200).items
    assert len(listed) == cap
    assert {p.id for p in results} <= {p.id for p in listed}
    # deleting makes room for exactly one more
    plants.delete_plant(OWNER, listed[0].id)
    results, errors = concurrently(
        [lambda i=i: plants.create_plant(OWNER, f"second wave {i}") for i in range(5)]
    )
    assert len(results) == 1 and len(errors) == 4


def test_concurrent_requests_never_pass_a_keys_daily_quota_together(local_aws, use_function_env) -> None:
    """Each request's conditional count is atomic in DynamoDB (moto's is not under threads)."""
    use_function_env("PlantsApiFunction", DynamoDbEndpoint=local_aws)
    tier, noon = Tier("standard", 100.0, 100, quota=7), datetime(2026, 12, 7, 12, tzinfo=UTC)
    results, errors = concurrently([lambda: usage.count("busy", tier, noon) for _ in range(12)])
    assert not errors, error_kinds(errors)
    assert sorted(u.used for u in results if not u.refused) == list(range(1, 8))  # each its own count
    assert sum(u.refused for u in results) == 5
    assert usage.today("busy", tier, noon).used == 7


def _manage(
    endpoint: str, *args: str, where_after: bool = False, command: str = "keys"
) -> subprocess.CompletedProcess:
    """`python -m manage --endpoint E keys ARGS`, or `... keys --endpoint E ARGS` (both work)."""
    where = [command, "--endpoint", endpoint] if where_after else ["--endpoint", endpoint, command]
    return subprocess.run(
        [sys.executable, "-m", "manage", *where, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_keys_command_creates_lists_and_revokes(local_aws, use_function_env) -> None:
    use_function_env("AuthorizerFunction", DynamoDbEndpoint=local_aws)
    created = _manage(local_aws, "create", "--name", "analyst", "--scope", "read", "--expires-in-days", "30")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    key = apikeys.authenticate(f"Bearer {token}")
    assert key.name == "analyst" and key.scopes == {"read"} and key.expires_at is not None
    listed = _manage(local_aws, "list", "--json", where_after=True)
    (record,) = json.loads(listed.stdout)
    assert record["id"] == key.key_id and record["status"] == "active" and record["scopes"] == ["read"]
    _, secret = apikeys.parse_token(token)
    assert secret not in listed.stdout and key.secret_hash not in listed.stdout
    table = _manage(local_aws, "list")
    assert key.key_id in table.stdout and "analyst" in table.stdout and secret not in table.stdout
    revoked = _manage(local_aws, "revoke", key.key_id)
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    with pytest.raises(InvalidApiKey):
        apikeys.authenticate(f"Bearer {token}")
    assert json.loads(_manage(local_aws, "list", "--json").stdout)[0]["status"] == "revoked"


def test_accounts_and_their_keys_from_the_command_line(local_aws, use_function_env) -> None:
    """An operator creates an account and its first (admin) key, limits it, and restricts a key
    to one of its plants; a plant of another account is refused as a missing one."""
    from tests.support import principal

    use_function_env("PlantsApiFunction", DynamoDbEndpoint=local_aws)
    made = _manage(
        local_aws, "create", "--name", "Acme Solar", "--id", "acme", "--max-plants", "3", command="accounts"
    )
    assert made.returncode == 0 and "Created account acme (Acme Solar)" in made.stdout, made.stderr
    again = _manage(local_aws, "create", "--name", "Other", "--id", "acme", command="accounts")
    assert again.returncode == 2 and "exists already" in again.stderr
    mine = plants.create_plant(principal("acme"), "Acme One").id
    theirs = plants.create_plant(OWNER, "Default One").id
    admin = _manage(local_aws, "create", "--account", "acme", "--name", "admin", "--scope", "read",
                    "--scope", "write", "--scope", "admin", "--json")  # fmt: skip
    assert json.loads(admin.stdout)["account_id"] == "acme", admin.stderr
    pinned = _manage(local_aws, "create", "--account", "acme", "--name", "site", "--scope", "read",
                     "--plant", str(mine), "--json")  # fmt: skip
    key = apikeys.authenticate(f"Bearer {json.loads(pinned.stdout)['key']}")
    assert (key.account_id, key.plants) == ("acme", frozenset({mine}))
    refused = _manage(
        local_aws, "create", "--account", "acme", "--name", "x", "--scope", "read", "--plant", str(theirs)
    )
    assert refused.returncode == 2 and f"plant {theirs} does not exist" in refused.stderr
    nowhere = _manage(local_aws, "create", "--account", "initech", "--name", "x", "--scope", "read")
    assert nowhere.returncode == 2 and "no account with id 'initech'" in nowhere.stderr
    listed = json.loads(_manage(local_aws, "list", "--account", "acme", "--json").stdout)
    assert {r["name"] for r in listed} == {"admin", "site"} and {r["account_id"] for r in listed} == {"acme"}
    assert _manage(local_aws, "limit", "acme", "none", command="accounts").returncode == 0
    (acme,) = [a for a in json.loads(_manage(local_aws, "list", "--json", command="accounts").stdout)]
    assert (acme["id"], acme["plants"], acme["max_plants"]) == ("acme", 1, None)


def test_keys_command_says_what_is_wrong(local_aws) -> None:
    unknown = _manage(local_aws, "revoke", "nosuchkey000")
    assert unknown.returncode == 2 and "no API key with id 'nosuchkey000'" in unknown.stderr
    bad = _manage(local_aws, "create", "--name", "x", "--scope", "owner")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    alone = _manage(local_aws, "create", "--name", "x", "--scope", "admin")  # admin adds to read or write
    assert alone.returncode == 2 and "a key needs `read` or `write`" in alone.stderr
    down = _manage("http://127.0.0.1:9", "list")
    assert down.returncode == 1 and "is `make dev` running?" in down.stderr


def test_recount_counts_plants_written_straight_into_the_table(local_aws, use_function_env) -> None:
    """Plants the count never saw (seeded, or from before it was kept) count after a recount."""
    from devstack.fleet import seed_synced_plants
    from devstack.stack import dynamodb_client

    use_function_env("PlantsApiFunction", DynamoDbEndpoint=local_aws, MaxPlants="5")
    client = dynamodb_client(local_aws)
    seed_synced_plants(client, range(101, 105), datetime.now(UTC).date())  # keeps the count itself
    plants.create_plant(OWNER, "fifth")
    with pytest.raises(PlantLimitReached):
        plants.create_plant(OWNER, "sixth")
    client.delete_item(TableName="PlantsTable", Key={"pk": {"S": "COUNT#plants"}})  # as before the count
    recount = subprocess.run(
        [sys.executable, "-m", "manage", "--endpoint", local_aws, "plants", "recount"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert recount.returncode == 0 and recount.stdout.startswith("5 plants"), recount.stderr
    with pytest.raises(PlantLimitReached):
        plants.create_plant(OWNER, "sixth")
