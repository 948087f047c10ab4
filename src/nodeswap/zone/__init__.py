"""The zone as data: settings files (``settings``, bash's syntax in ``settings_syntax``), the
inventory, exec_nodes.sh's groups, typed values, known_hosts and hosts files as text,
discovery's facts (each read-only command with its parser) and the snapshot it builds. Pure:
no I/O (tests/unit/test_purity.py); running the facts' commands is live/discover.py.
"""
