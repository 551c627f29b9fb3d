"""A dialect is registered in one place (its DialectSpec and its name in bridges/dialects.py):
the README's table, the Kubernetes manifests, `make run`, the bench stack and the tests all
follow it (asr_stack/catalog.py)."""
from __future__ import annotations

from asr_stack import catalog
from bridges import dialects
from tests.bridges.dialect_drivers import DIALECTS

SPECS = dialects.installed()


def test_every_registered_dialect_is_installed_with_a_reference():
    assert [spec.name for spec in SPECS] == list(dialects.NAMES)
    assert all(spec.reference for spec in SPECS), [spec.name for spec in SPECS if not spec.reference]


def test_readme_table_is_the_registry():
    assert catalog.readme_table(SPECS) in catalog.README.read_text(), \
        "README.md's table is stale: run `python -m asr_stack.catalog --write`"


def test_kubernetes_bridges_are_the_registry():
    assert catalog.KUBERNETES_BRIDGES.read_text() == catalog.kubernetes_bridges(SPECS), \
        "deploy/kubernetes/bridges.yaml is stale: run `python -m asr_stack.catalog --write`"


def test_every_websocket_dialect_has_a_test_driver():
    """The hardening tests, `make run`'s test and the bench stack drive each dialect through
    its driver (tests/bridges/dialect_drivers.py)."""
    assert {s.name for s in SPECS if s.transport == "websocket"} <= set(DIALECTS)


def test_no_two_dialects_share_a_port_under_make_run():
    ports = [spec.port_in_stack for spec in SPECS]
    assert len(set(ports)) == len(ports), ports
