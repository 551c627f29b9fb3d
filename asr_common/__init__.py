"""What the core, the bridges and the SDK share, one module per concern.

`core_service`, `bridges` and `clients` import this package and the generated stubs (`asr`); this
package imports none of them (tests/test_package_boundaries.py). The SDK's wheel
(clients/python) carries the modules the SDK imports from here.
"""
