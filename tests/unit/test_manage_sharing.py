"""`python -m manage portfolios` and `grants` (moto): any account's portfolios and grants, as its
admin keys manage them over the API; a grant's change flushes the authorizer cache."""

from __future__ import annotations

import argparse
import json

import pytest

from manage import grants, portfolios
from manage import keys as manage_keys
from manage.target import Target
from powerfactor.access import accounts
from powerfactor.access import keys as apikeys
from powerfactor.plants import logic as plants
from tests.support import principal

HERE = Target("these tables", {})


def _parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def two(aws) -> int:
    accounts.create_account("Acme", "acme")
    accounts.create_account("Globex Energy", "globex")
    return plants.create_plant(principal("globex"), "Lent").id


def test_portfolios_of_any_account(two, capsys) -> None:
    assert (
        portfolios.run(_parse(portfolios, ["create", "--account", "globex", "--name", "B", "--json"]), HERE)
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert (
        portfolios.run(
            _parse(portfolios, ["add", made["id"], "--account", "globex", "--plant", str(two)]), HERE
        )
        == 0
    )
    capsys.readouterr()
    assert (
        portfolios.run(_parse(portfolios, ["plants", made["id"], "--account", "globex", "--json"]), HERE) == 0
    )
    assert json.loads(capsys.readouterr().out) == [{"id": two, "name": "Lent"}]
    portfolios.run(_parse(portfolios, ["list", "--account", "acme", "--json"]), HERE)
    assert json.loads(capsys.readouterr().out) == []  # another account's are not its own
    manage_keys.run(
        _parse(manage_keys, ["create", "--account", "globex", "--name", "b", "--scope", "read",
                             "--portfolio", made["id"], "--json"]),
        HERE,
    )  # fmt: skip
    assert json.loads(capsys.readouterr().out)["portfolios"] == [made["id"]]
    assert portfolios.run(_parse(portfolios, ["delete", made["id"], "--account", "globex"]), HERE) == 0


def test_grants_of_any_account_and_the_cache_flush(two, capsys) -> None:
    args = _parse(grants, ["create", "--account", "globex", "--to", "acme", "--plant", str(two), "--json"])
    assert grants.run(args, HERE) == 1  # no API to flush here: said, and the grant is made all the same
    out = capsys.readouterr().out
    made = json.loads(out.splitlines()[0])
    assert made["grantee"] == "acme" and "AuthorizerCacheTtl" in out
    grants.run(_parse(grants, ["list", "--account", "acme", "--received", "--json"]), HERE)
    assert [g["id"] for g in json.loads(capsys.readouterr().out)] == [made["id"]]
    assert apikeys.received_grants("acme")[0].plants == {two}
    grants.run(_parse(grants, ["revoke", made["id"], "--account", "globex"]), HERE)
    assert apikeys.received_grants("acme") == ()
