"""``render(kind, context) -> RenderedEmail(subject, html, text)``: one entry point, fast.

How it stays fast (DESIGN.md section 7): MJML is compiled once per (kind, store look, shape of
the recipient's data) and cached; a message then costs a string fill.

1. The context splits in two. Store-level parts (``store``, its ``look``: branding, copy,
   testimonials) render normally. Every other key is the recipient's and is *display-ready*
   (money and dates already formatted, links already tracked).
2. On a cache miss each recipient value is swapped for an opaque marker (``<mark><n>z``) and the
   Django templates render with the markers in place: ``<kind>.mjml`` is then compiled by
   mjml-python, ``<kind>.txt`` and ``<kind>.subject.txt`` stay text. Each result becomes a
   ``str.format`` pattern with one slot per marker.
3. Per recipient the values fill the slots: HTML-escaped for the HTML, as-is for the text and
   the subject.

Falsy values (``""``, ``None``, ``0``, ``False``) are not replaced by markers but kept, so
``{% if %}`` and ``|default`` behave; lists keep their length. The cache key holds the shape
(keys, list lengths, falsy values), so a recipient with three products never reuses the pattern
compiled for two. Templates must not transform recipient values (no ``|upper``, no arithmetic):
format them when building the context (``emails.context``). The markers carry a random
per-process part, so merchant copy cannot forge one.
"""

from __future__ import annotations

import html as html_lib
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mjml
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError

from emails.exceptions import ContextInvalid, EmailTooLarge, TemplateInvalid, UnknownKind
from emails.kinds import KINDS, SOCIAL_PROOF_KINDS, Kind
from emails.look import StoreLook

__all__ = ["GMAIL_CLIP_BYTES", "RenderedEmail", "render", "render_cache_clear"]

# Gmail hides everything after 102 KB of HTML ("[Message clipped]"), footer and unsubscribe
# link included.
GMAIL_CLIP_BYTES = 102 * 1024
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_CACHE_SIZE = 2048
STORE_KEYS = frozenset({"store", "look"})


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def _engine(*, autoescape: bool) -> Engine:
    return Engine(
        dirs=[str(TEMPLATE_DIR)],
        autoescape=autoescape,
        loaders=[("django.template.loaders.cached.Loader",
                  ["django.template.loaders.filesystem.Loader"])],
        libraries={},
    )


_HTML_ENGINE = _engine(autoescape=True)
_TEXT_ENGINE = _engine(autoescape=False)

# Markers: letters and digits only, so HTML escaping, MJML and URL attributes leave them alone.
_MARK = "xq" + secrets.token_hex(5)
_MARK_RE = re.compile(_MARK + r"(\d+)z")


# Which recipient keys each kind needs (beyond the common ones). Checked on every render.
COMMON_KEYS = ("unsubscribe_url", "preferences_url")
REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {
    Kind.VALUE: (),
    Kind.CHECKIN: ("answers",),
    Kind.COMPLEMENTS: ("products",),
    Kind.UPGRADE: ("original", "upgrade"),
    Kind.BUNDLE: ("bundle",),
    Kind.INCENTIVE: ("incentive",),
    Kind.FOLLOWUP: ("products",),
    Kind.FEEDBACK: ("nps",),
}


def _check(kind: str, recipient: Mapping[str, Any]) -> None:
    missing = [k for k in (*COMMON_KEYS, *REQUIRED_KEYS[kind]) if not recipient.get(k)]
    if missing:
        raise ContextInvalid(f"A {kind} email needs {', '.join(missing)}.",
                             extra={"kind": kind, "missing": missing})
    if kind == Kind.COMPLEMENTS and not 2 <= len(recipient["products"]) <= 4:
        raise ContextInvalid("A complements email shows 2 to 4 products.",
                             extra={"kind": kind, "products": len(recipient["products"])})
    if kind == Kind.INCENTIVE and not (recipient["incentive"].get("expires_at")
                                       and recipient["incentive"].get("code")):
        raise ContextInvalid("An incentive email needs the code and its real expiry date.",
                             extra={"kind": kind})
    if kind == Kind.FEEDBACK and len(recipient["nps"]) != 11:
        raise ContextInvalid("A feedback email has the 11 scores 0 to 10.", extra={"kind": kind})


# Shape and values -----------------------------------------------------------------------------

def _flatten(value: Any, values: list) -> Any:
    """The hashable shape of ``value``; truthy leaves are appended to ``values`` in order."""
    if isinstance(value, Mapping):
        return tuple([(k, _flatten(v, values)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return ("[", *[_flatten(v, values) for v in value])
    if value is True:
        return True
    if not value:
        return ("=", type(value).__name__, value)
    values.append(value)
    return 1


def _markers(value: Any, counter: list[int]) -> Any:
    """``value`` with its truthy leaves replaced by markers, in ``_flatten``'s order."""
    if isinstance(value, Mapping):
        return {k: _markers(v, counter) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_markers(v, counter) for v in value]
    if value is True or not value:
        return value
    n = counter[0]
    counter[0] += 1
    return f"{_MARK}{n}z"


def _pattern(rendered: str) -> str:
    """A ``str.format`` pattern: braces doubled, each marker turned into its slot."""
    escaped = rendered.replace("{", "{{").replace("}", "}}")
    return _MARK_RE.sub(r"{\1}", escaped)


# Compilation ----------------------------------------------------------------------------------

_COPY_PLACEHOLDER = re.compile(r"\{(first_name|store_name)\}")


def copy_fill(text: str, *, first_name: Any, store_name: str) -> str:
    """Copy with its ``{first_name}`` and ``{store_name}`` placeholders filled."""
    names = {"first_name": first_name or "there", "store_name": store_name}
    return _COPY_PLACEHOLDER.sub(lambda m: str(names[m.group(1)]), text)


def _store_context(kind: str, look: StoreLook, recipient: Mapping[str, Any]) -> dict[str, Any]:
    copy = look.copy_for(kind)
    first_name = recipient.get("first_name")
    filled = {
        field: copy_fill(getattr(copy, field), first_name=first_name, store_name=look.store_name)
        for field in ("subject", "preheader", "heading", "body", "cta_label")
    }
    # An A/B variant's copy (``copy_overrides``: subject, preheader, heading, cta_label), already
    # filled by the caller; here it is a marker, so the compiled shape is shared by every value.
    for field, text in (recipient.get("copy_overrides") or {}).items():
        if field in filled and field != "body" and text:
            filled[field] = text
    filled["paragraphs"] = [p.strip() for p in filled["body"].split("\n\n") if p.strip()]
    return {
        "kind": kind,
        "store": look.store,
        "brand": look.brand,
        "copy": filled,
        "testimonials": look.testimonials if kind in SOCIAL_PROOF_KINDS else (),
    }


@dataclass(frozen=True, slots=True)
class _Compiled:
    subject: str
    html: str
    text: str

    def fill(self, values: list) -> RenderedEmail:
        strs = [v if isinstance(v, str) else str(v) for v in values]
        escaped = [html_lib.escape(s) for s in strs]
        return RenderedEmail(subject=self.subject.format(*strs), html=self.html.format(*escaped),
                             text=self.text.format(*strs))


def _render_template(engine: Engine, name: str, context: dict[str, Any]) -> str:
    try:
        return engine.get_template(name).render(Context(context, autoescape=engine.autoescape))
    except TemplateDoesNotExist as exc:
        raise TemplateInvalid(f"The template {name} does not exist.",
                              extra={"template": name}) from exc
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"The template {name} does not parse: {exc}",
                              extra={"template": name, "error": str(exc)}) from exc


_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _tidy_text(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text.replace("\r\n", "\n"))
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"


def _compile(kind: str, look: StoreLook, recipient: Mapping[str, Any]) -> _Compiled:
    marked = _markers(recipient, [0])
    context = {**_store_context(kind, look, marked), **marked}
    name = f"emails/{kind}.mjml"
    source = _render_template(_HTML_ENGINE, name, context)
    try:
        html = mjml.mjml2html(source)
    except Exception as exc:  # mjml-python raises ValueError (and panics as others)
        raise TemplateInvalid(f"The MJML of {name} does not compile: {exc}",
                              extra={"template": name, "error": str(exc)}) from exc
    subject = " ".join(_render_template(_TEXT_ENGINE, f"emails/{kind}.subject.txt", context).split())
    text = _tidy_text(_render_template(_TEXT_ENGINE, f"emails/{kind}.txt", context))
    return _Compiled(subject=_pattern(subject), html=_pattern(html), text=_pattern(text))


_cache: dict[tuple, _Compiled] = {}
_cache_lock = threading.Lock()


def render_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def render(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render one email. ``context``: ``store`` (a Store), optional ``look`` (a ``StoreLook``;
    loaded when missing) and the recipient's display-ready values (see ``emails.context``).

    Raises ``UnknownKind``, ``ContextInvalid``, ``TemplateInvalid`` (naming the template) and
    ``EmailTooLarge`` (HTML over Gmail's clipping size).
    """
    if kind not in KINDS:
        raise UnknownKind(f"There is no email kind {kind!r}.", extra={"kind": kind})
    look = context.get("look")
    if look is None:
        from emails.selectors import store_look  # selectors read the database

        look = store_look(store=context["store"])
    recipient = {k: v for k, v in context.items() if k not in STORE_KEYS}
    _check(kind, recipient)
    values: list = []
    key = (kind, look.fingerprint, _flatten(recipient, values))
    compiled = _cache.get(key)
    if compiled is None:
        compiled = _compile(kind, look, recipient)
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = compiled
    rendered = compiled.fill(values)
    size = len(rendered.html)
    if size * 4 > GMAIL_CLIP_BYTES and (size > GMAIL_CLIP_BYTES
                                        or len(rendered.html.encode()) > GMAIL_CLIP_BYTES):
        raise EmailTooLarge(
            f"The {kind} email's HTML is {len(rendered.html.encode())} bytes, over Gmail's "
            f"{GMAIL_CLIP_BYTES}-byte clipping limit.",
            extra={"kind": kind, "bytes": len(rendered.html.encode()), "limit": GMAIL_CLIP_BYTES})
    return rendered
