"""The field checks of a plan file's schema (plan/planfile.py): each says what is wrong with
one value, in the operator's language (issue 13), or None. Pure."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nodeswap.i18n import N_, _

Check = Callable[[Any], str | None]  # None: fine; else what is wrong

_KINDS = {dict: N_("an object"), list: N_("an array"), str: N_("a string"),
          bool: N_("a boolean"), int: N_("an integer"), float: N_("a number"),
          type(None): N_("null")}


def kind(v: Any) -> str:
    """What a JSON value is: "an object", "a string"..."""
    name = _KINDS.get(type(v))
    return _(name) if name is not None else type(v).__name__


def string(v: Any) -> str | None:
    return None if isinstance(v, str) else _("must be a string, not {kind}").format(kind=kind(v))


def nonempty(v: Any) -> str | None:
    return string(v) or (None if v else _("must not be empty"))


def opt_string(v: Any) -> str | None:
    return None if v is None or isinstance(v, str) else \
        _("must be a string or null, not {kind}").format(kind=kind(v))


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else \
        _("must be true or false, not {kind}").format(kind=kind(v))


def timeout(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return _("must be a number of seconds, not {kind}").format(kind=kind(v))
    return None if math.isfinite(v) and v > 0 else \
        _("must be more than 0, not {value!r}").format(value=v)


def mode(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int):
        return _("must be an integer (a file mode), not {kind}").format(kind=kind(v))
    return None if 0 <= v <= 0o7777 else \
        _("must be a file mode (0 to 4095), not {value}").format(value=v)


def string_list(v: Any) -> str | None:
    if not isinstance(v, list):
        return _("must be an array of strings, not {kind}").format(kind=kind(v))
    bad = next((i for i, x in enumerate(v) if not isinstance(x, str)), None)
    return None if bad is None else \
        _("[{i}] must be a string, not {kind}").format(i=bad, kind=kind(v[bad]))


def string_pair(v: Any) -> str | None:
    return string_list(v) or (None if len(v) == 2 else
                              _("must have 2 strings, not {n}").format(n=len(v)))


def options(v: Any) -> str | None:
    if not isinstance(v, list):
        return _("must be an array of [key, value] pairs, not {kind}").format(kind=kind(v))
    for i, pair in enumerate(v):
        why = string_pair(pair)
        if why:
            return f"[{i}] {why}"
    return None
