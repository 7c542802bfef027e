"""What the report pages share: the Jinja2 environment, the number formats and the table models.

The run page (:mod:`lstm_backtrader.backtests.report.page`) and the sweep page
(:mod:`lstm_backtrader.backtests.report.sweep_page`) are drawn from the templates in
``templates/`` beside this module: ``base.html`` (the layout and the one stylesheet),
``run.html`` and ``sweep.html`` extending it, and ``_macros.html`` (key/value table, data table,
figure, notes). The templates are loaded from the installed package with
:class:`jinja2.PackageLoader`, so they are found from a wheel or a zip as well as from a checkout.

Escaping: autoescape is on for ``.html`` templates and every value a template prints goes
through :func:`html_escape` (:func:`html.escape` with ``quote=True``), so a strategy, asset or
file name full of markup comes out as text. Undefined template variables raise
(:class:`jinja2.StrictUndefined`). Rendering is deterministic: the same context gives the same
bytes.

Formats (:func:`format_value`, also the ``fmt`` template filter): ``None`` → ``n/a``;
``pct``, ``ratio``, ``ratio3``, ``int``, ``days``, ``money``, ``fixedN``, ``p`` and ``auto``.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

logger = logging.getLogger(__name__)

__all__ = [
    "NA",
    "Cell",
    "Table",
    "as_number",
    "column_kind",
    "environment",
    "flatten",
    "format_text",
    "format_value",
    "html_escape",
    "is_digest",
    "is_png",
    "kv_pairs",
    "make_table",
    "png_data_uri",
    "render_template",
    "soft_breaks",
]

#: Shown for a missing or undefined number.
NA = "n/a"

#: The package whose ``templates/`` folder holds the page templates.
TEMPLATE_PACKAGE = "lstm_backtrader.backtests.report"
TEMPLATE_FOLDER = "templates"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::00(?:\.0+)?)?(?:\+00:00|Z)?$")
_DIGEST = re.compile(r"^[0-9a-f]{32,}$")
_SOFT_BREAK_AFTER = re.compile(r"(?<=[._/])(?=\w)")


# --------------------------------------------------------------------------- numbers


def as_number(v: Any) -> float | None:
    """``v`` as a finite float; ``None`` for anything else (booleans, ``None``, NaN/inf, text)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    return None


def format_text(text: str) -> str:
    """Shorten an ISO timestamp at UTC, other text unchanged: ``2024-01-01T00:00:00+00:00`` →
    ``2024-01-01``, ``2024-01-01T04:00:00+00:00`` → ``2024-01-01 04:00``."""
    m = _ISO_UTC.match(text)
    if m is None:
        return text
    return m.group(1) if m.group(2) == "00:00" else f"{m.group(1)} {m.group(2)}"


def format_value(v: Any, kind: str = "auto") -> str:
    """One value for display (the ``fmt`` template filter).

    Parameters
    ----------
    v
        A number, text or ``None``.
    kind
        ``pct`` (×100, two decimals and ``%``), ``ratio`` (two decimals), ``ratio3`` (three),
        ``int`` (rounded, thousands separators), ``days`` (integer or one decimal), ``money``
        (two decimals, separators), ``fixedN`` (``N`` decimals, separators), ``p`` (p-value:
        three significant digits, scientific below 1e-4) or ``auto`` (ints with separators,
        floats with four significant digits).

    Returns
    -------
    str
        ``n/a`` for ``None``; text other than numbers through :func:`format_text`.
    """
    if v is None:
        return NA
    x = as_number(v)
    if x is None:
        return format_text(str(v))
    if kind == "pct":
        return f"{x * 100:.2f}%"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "ratio3":
        return f"{x:.3f}"
    if kind == "int":
        return f"{round(x):,}"
    if kind == "days":
        return f"{x:,.0f}" if x == round(x) else f"{x:,.1f}"
    if kind == "money":
        return f"{x:,.2f}"
    if kind.startswith("fixed"):
        return f"{x:,.{int(kind[5:])}f}"
    if kind == "p":
        return f"{x:.3g}" if x >= 1e-4 else f"{x:.1e}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{x:.4g}"


def column_kind(values: Iterable[Any]) -> str:
    """The format of a column: fixed decimals giving its largest magnitude 4 significant digits.

    Parameters
    ----------
    values
        The column's values (non-numbers ignored).

    Returns
    -------
    str
        ``fixedN`` for a float column, ``auto`` for integers only or no number at all.
    """
    nums = [abs(x) for x in map(as_number, values) if x is not None]
    if not nums or all(float(x).is_integer() for x in nums):
        return "auto"
    top = max(nums)
    decimals = 4 if top == 0 else min(8, max(0, 3 - math.floor(math.log10(top))))
    return f"fixed{decimals}"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.key, value)`` pairs in order; lists joined with ``", "``.

    Parameters
    ----------
    mapping
        E.g. a run configuration.
    prefix
        Prepended to every key.

    Returns
    -------
    list of (str, Any)
        Leaves of the mapping (an empty mapping is a leaf).
    """
    out: list[tuple[str, Any]] = []
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.extend(flatten(v, key + "."))
        elif isinstance(v, list):
            out.append((key, ", ".join(format_value(x) for x in v)))
        else:
            out.append((key, v))
    return out


# --------------------------------------------------------------------------- tables


def is_digest(text: str) -> bool:
    """Whether ``text`` is a long lowercase hex digest (32+ characters, e.g. a SHA-256)."""
    return _DIGEST.match(text) is not None


@dataclass(frozen=True)
class Cell:
    """One cell of a :class:`Table`.

    Attributes
    ----------
    text
        The text shown (escaped by the template).
    truncate
        Drawn shortened with an ellipsis (a long digest); the whole text stays in the page and
        in the cell's ``title``.
    """

    text: str
    truncate: bool = False


@dataclass(frozen=True)
class Table:
    """A table as the templates draw it.

    Attributes
    ----------
    header
        Column headings.
    rows
        Rows of cells, each as long as ``header``.
    layout
        CSS class: ``num`` (first column text, the others right-aligned numbers) or ``kv``.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    layout: str = "num"


def make_table(
    header: Sequence[str], rows: Iterable[Sequence[str | Cell]], layout: str = "num"
) -> Table | None:
    """A :class:`Table` from display texts; ``None`` (shown as ``n/a``) without rows.

    In a ``num`` table, a cell holding a long hex digest is drawn truncated (:func:`is_digest`).

    Parameters
    ----------
    header
        Column headings.
    rows
        Rows of texts (or ready :class:`Cell` objects).
    layout
        ``num`` or ``kv``.

    Returns
    -------
    Table or None
        The table, or ``None`` when ``rows`` is empty.
    """
    cells = tuple(
        tuple(
            c if isinstance(c, Cell) else Cell(str(c), layout == "num" and is_digest(str(c)))
            for c in row
        )
        for row in rows
    )
    if not cells:
        return None
    if any(len(row) != len(header) for row in cells):
        raise ValueError(f"every row needs {len(header)} cells")
    return Table(tuple(str(h) for h in header), cells, layout)


def kv_pairs(mapping: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """A (nested) mapping as ``(dotted.key, formatted value)`` pairs for a key/value table.

    Parameters
    ----------
    mapping
        E.g. the data description or the configuration; ``None`` or empty gives no pair.

    Returns
    -------
    list of (str, str)
        :func:`flatten` with every value through :func:`format_value`.
    """
    if not mapping:
        return []
    return [(k, format_value(v)) for k, v in flatten(mapping)]


# --------------------------------------------------------------------------- figures


def is_png(data: object) -> bool:
    """Whether ``data`` is bytes starting with the PNG signature."""
    return isinstance(data, bytes | bytearray) and bytes(data).startswith(_PNG_MAGIC)


def png_data_uri(data: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI (the page embeds its figures).

    Parameters
    ----------
    data
        PNG bytes.

    Returns
    -------
    str
        The URI.

    Raises
    ------
    ValueError
        If ``data`` is not PNG bytes.
    """
    if not is_png(data):
        raise ValueError("not PNG bytes")
    return "data:image/png;base64," + base64.b64encode(bytes(data)).decode("ascii")


# --------------------------------------------------------------------------- environment


def html_escape(value: Any) -> Markup:
    """Every value a template prints: :func:`html.escape` of its text (quotes included).

    The environment's ``finalize``: markup built on purpose (:class:`markupsafe.Markup`, e.g.
    a macro's output or :func:`soft_breaks`) passes unchanged; anything else is escaped the
    way :func:`html.escape` does it (``&#x27;`` for ``'``), before autoescape sees it.
    """
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def soft_breaks(text: Any) -> Markup:
    """Escaped ``text`` with ``<wbr>`` after each ``.``, ``_`` or ``/`` before a letter or digit
    (the ``wbr`` filter).

    Lets a long heading such as ``directional_accuracy`` wrap inside a narrow table column
    without changing its text.
    """
    parts = _SOFT_BREAK_AFTER.split(str(text))
    return Markup("<wbr>").join(Markup(html.escape(p, quote=True)) for p in parts)


@functools.cache
def environment() -> jinja2.Environment:
    """The pages' Jinja2 environment (built once).

    Returns
    -------
    jinja2.Environment
        Templates from the package's ``templates/`` folder; autoescape on for HTML,
        :class:`jinja2.StrictUndefined`, :func:`html_escape` as ``finalize``, filters ``fmt``
        (:func:`format_value`) and ``wbr`` (:func:`soft_breaks`), global ``NA``.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        autoescape=jinja2.select_autoescape(("html",), default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        finalize=html_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["fmt"] = format_value
    env.filters["wbr"] = soft_breaks
    env.globals["NA"] = NA
    return env


def render_template(name: str, /, **context: Any) -> str:
    """Render one of the package's templates.

    Parameters
    ----------
    name
        Template file name, e.g. ``"run.html"``.
    **context
        The template's variables (every one it uses must be given).

    Returns
    -------
    str
        The page.
    """
    logger.debug("rendering %s", name)
    return environment().get_template(name).render(**context)
