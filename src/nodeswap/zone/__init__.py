"""The zone as data: settings files, the inventory, typed values, known_hosts and hosts
files as text. Pure: no I/O (tests/unit/test_purity.py).
"""
