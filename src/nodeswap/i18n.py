"""The operator's language: English (the default) or Simplified Chinese.

``_("text")`` translates one user-facing message, ``ngettext`` one that depends on a count,
``N_("text")`` only marks a message for extraction (a table built at import, translated where
it is shown). The language, first found wins:

1. ``set_language("zh")`` (the CLI's ``--lang``, before it imports a command's module);
2. ``NODESWAP_LANG`` (set from the config file's ``language`` key when not set itself);
3. the locale variables in gettext's own order, ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
   ``LANG`` (the first one set decides; ``LANGUAGE=zh_CN:en`` lists several): ``zh…`` is
   Chinese, ``en…``, ``C`` and ``POSIX`` are English, others are skipped.

Only the environment is read: no ``setlocale`` (a host without a generated zh_CN locale works
the same). The catalog is the compiled ``locale/zh_CN/LC_MESSAGES/nodeswap.mo`` shipped in the
package (made from the .po with Babel, committed: an installed wheel needs no Babel). It is
loaded lazily, on the first message translated into Chinese: in English nothing is read and
``gettext`` is not even imported (start-up time, and the pure packages stay pure: this module
imports ``os`` only). Messages built from data (commands, file contents, host names) are never
translated; rule ids stay ``R…``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gettext import NullTranslations as _Catalog

DOMAIN = "nodeswap"
LANGUAGES = ("en", "zh")
CATALOG_LOCALE = {"zh": "zh_CN"}  # language -> the catalog's folder under locale/
LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # gettext's order


_marked: dict[str, None] = {}  # every N_ message, in the order marked (deterministic)
_chosen: str | None = None  # set_language's; None: from the environment
_catalogs: dict[str, _Catalog | None] = {}


def _code(value: str) -> str | None:
    """``zh_CN.UTF-8`` -> zh, ``en_US`` / ``C`` / ``POSIX`` -> en, anything else None."""
    base = value.split(".", 1)[0].split("@", 1)[0].strip().lower()
    if base.startswith("zh"):
        return "zh"
    if base in ("c", "posix") or base == "en" or base.startswith("en_"):
        return "en"
    return None


def language_of(environ: Mapping[str, str]) -> str:
    """The language the environment asks for (see the module doc), "en" by default."""
    own = _code(environ.get("NODESWAP_LANG", ""))
    if own is not None:  # a value not en or zh: the CLI refuses it (exit 2); here, skipped
        return own
    for var in LOCALE_VARS:
        value = environ.get(var, "")
        if value:
            for item in value.split(":"):
                code = _code(item)
                if code is not None:
                    return code
            break
    return "en"


def normalize(value: str) -> str:
    """``zh``, ``zh_CN``, ``zh_CN.UTF-8`` -> zh; ``en``, ``C`` -> en; else ValueError."""
    code = _code(value)
    if code is None:
        raise ValueError(f"language: one of {', '.join(LANGUAGES)}, not {value!r}")
    return code


def set_language(value: str | None) -> str:
    """Choose the language (None: from the environment again); returns the one in effect."""
    global _chosen  # noqa: PLW0603 (one process, one operator's language)
    _chosen = None if value is None else normalize(value)
    return language()


def language() -> str:
    """The language in effect: "en" or "zh"."""
    return _chosen if _chosen is not None else language_of(os.environ)


def locale_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "locale")


def catalog(lang: str) -> _Catalog | None:
    """The compiled catalog of ``lang`` (None for English, or when it is missing)."""
    if lang not in _catalogs:
        found: _Catalog | None = None
        folder = CATALOG_LOCALE.get(lang)
        if folder is not None:
            import gettext  # noqa: PLC0415 (only when a translation is needed)

            try:
                found = gettext.translation(DOMAIN, locale_dir(), languages=[folder])
            except OSError:
                found = None
        _catalogs[lang] = found
    return _catalogs[lang]


def _(message: str) -> str:
    """``message`` in the operator's language (as is when untranslated)."""
    lang = language()
    if lang == "en":
        return message
    cat = catalog(lang)
    return cat.gettext(message) if cat is not None else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for the count ``n``, in the operator's language."""
    lang = language()
    cat = catalog(lang) if lang != "en" else None
    if cat is None:
        return singular if n == 1 else plural
    return cat.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks ``message`` for extraction; translated later, where it is shown. Every marked
    message is remembered (in the order marked): the templates of plan data, module-level
    constants of the modules named in ``DATA_MODULES``, are found there by ``retranslate``."""
    _marked.setdefault(message, None)
    return message


def rule_title(rule: str, lang: str | None = None) -> str:
    """The title of rule ``R…`` in ``lang`` (default: the language in effect); "" if unknown."""
    from nodeswap.ruletitles import TITLES  # noqa: PLC0415 (the table only when shown)

    pair = TITLES.get(rule.strip())
    if pair is None:
        return ""
    return pair[1] if (lang or language()) == "zh" else pair[0]


# Words shown from data: states of steps and runs, report outcomes, sessions, finding classes
# (the journal, --json and the report's JSON keep the English words), and the plan's phases.
WORDS = frozenset((
    N_("pending"), N_("running"), N_("done"), N_("skipped"), N_("failed"), N_("gate"),
    N_("interrupted"), N_("undone"), N_("undo_failed"), N_("undo failed"), N_("not run"),
    N_("at gate"), N_("rolled_back"), N_("rolling_back"), N_("rollback_failed"), N_("apply"),
    N_("resume"), N_("rollback"), N_("unexpected"), N_("attention"), N_("ignored"),
    N_("waiting"), N_("approved")))
PHASES = frozenset((N_("prepare"), N_("settings"), N_("build"), N_("launch"), N_("deploy"),
                    N_("check"), N_("archive")))


def word(value: object) -> str:
    """A state, outcome, session or finding class in the operator's language."""
    text = str(value)
    return _(text) if text in WORDS else text


def phase_title(phase: str) -> str:
    """A plan phase's name in the operator's language (``switch:proxy0`` too); in English,
    the phase's id as it is."""
    if language() == "en":
        return phase
    name, _sep, node = phase.partition(":")
    if name == "switch" and node:
        return _("switch {node}").format(node=node)
    return _(name) if name in PHASES else phase


# ---- plan data in the operator's language -----------------------------------------------------
# Step titles and plan warnings are plan data: stored in English (the plan's digest, its JSON,
# the journal), made from N_-marked templates (module-level constants of these modules) and
# shown translated by ``retranslate``.
DATA_MODULES = ("nodeswap.runbooks", "nodeswap.plan.rules", "nodeswap.plan.preflight",
                "nodeswap.zone.snapshot", "nodeswap.live.fence", "nodeswap.live.discover",
                "nodeswap.run.statedir")


def retranslate(text: str) -> str:
    """A step title or plan warning in the operator's language: in English ``text`` as it is
    (nothing loaded); in Chinese, the translation of the N_-marked template it was formatted
    from, formatted with the values it holds (each value in turn retranslated: a template may
    hold another's result); ``text`` as it is when no template made it."""
    if language() == "en":
        return text
    from nodeswap.datatext import match  # noqa: PLC0415 (only when shown in Chinese)

    return match(text, data_templates(), _)


def data_templates() -> tuple[str, ...]:
    """Every N_-marked template of plan data (importing ``DATA_MODULES`` marks them)."""
    import importlib  # noqa: PLC0415

    for name in DATA_MODULES:
        module = importlib.import_module(name)
        load = getattr(module, "_load", None)
        if callable(load):  # the runbooks package imports its modules on demand
            load()
    return tuple(_marked)
