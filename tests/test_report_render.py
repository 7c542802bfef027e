"""The pages' shared rendering: the Jinja2 environment (autoescape, strict, packaged templates),
the number formats, the table models and the macros, hostile strings included."""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import jinja2
import pytest
from markupsafe import Markup

from lstm_backtrader.backtests.report import render
from lstm_backtrader.backtests.report.render import Cell, Table, make_table

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ("_macros.html", "base.html", "run.html", "sweep.html")
HOSTILE = "<script>alert('x')</script> & \"q\" <b>"
HOSTILE_ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot; &lt;b&gt;"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _macros():
    return render.environment().get_template("_macros.html").module


def _assert_no_markup(html: str) -> None:
    assert "<script" not in html and "<b>" not in html and "alert('x')" not in html


# --------------------------------------------------------------------------- environment


def test_environment_autoescapes_html_and_is_strict() -> None:
    env = render.environment()
    assert env is render.environment()  # built once
    assert env.autoescape("page.html") is True  # type: ignore[operator]
    assert env.undefined is jinja2.StrictUndefined
    assert {"fmt", "wbr"} <= set(env.filters)
    with pytest.raises(jinja2.UndefinedError):
        render.render_template("run.html", title="t")  # every variable must be given
    page = env.from_string("<p title='{{ x }}'>{{ x }}</p>").render(x=HOSTILE)
    assert page == f"<p title='{HOSTILE_ESCAPED}'>{HOSTILE_ESCAPED}</p>"


def test_templates_are_found_in_the_installed_package() -> None:
    folder = importlib.resources.files("lstm_backtrader.backtests.report") / "templates"
    for name in TEMPLATES:
        assert (folder / name).is_file(), name
    env = render.environment()
    assert isinstance(env.loader, jinja2.PackageLoader)
    assert set(TEMPLATES) <= set(env.list_templates())


def test_wheel_ships_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    for folder in ("backtests", "models", "strategies"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [sys.executable, "-c",
         "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))",
         str(tmp_path / "dist")],
        cwd=src, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    for name in TEMPLATES:
        assert f"lstm_backtrader/backtests/report/templates/{name}" in names
    # -S: no site-packages .pth (the editable install's finder); only the unpacked wheel and
    # the dependencies' folder are on the path
    site = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path[1:1] = [{str(tmp_path / 'site')!r}, {site!r}]\n"
        "from lstm_backtrader.backtests.report import render, sweep_page\n"
        "page = sweep_page.render_sweep_page({'title': 'from the wheel', 'notes': []})\n"
        "assert page.startswith('<!DOCTYPE html>') and 'from the wheel' in page\n"
        "print('templates', render.environment().loader.get_source(render.environment(), "
        "'base.html')[1])\n"
    )
    res = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"templates {tmp_path / 'site'}" in res.stdout


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (None, "pct", "n/a"),
        (True, "auto", "True"),
        (0.12345, "pct", "12.35%"),
        (1.23456, "ratio", "1.23"),
        (1.23456, "ratio3", "1.235"),
        (1234.6, "int", "1,235"),
        (12.0, "days", "12"),
        (12.25, "days", "12.2"),
        (1234.5, "money", "1,234.50"),
        (0.0123456, "fixed4", "0.0123"),
        (0.0123, "p", "0.0123"),
        (1.5e-7, "p", "1.5e-07"),
        (1234567, "auto", "1,234,567"),
        (0.000123456, "auto", "0.0001235"),
        ("2024-01-01T00:00:00+00:00", "auto", "2024-01-01"),
        ("2024-01-01T04:00:00+00:00", "auto", "2024-01-01 04:00"),
        ("<b>", "pct", "<b>"),  # text stays text; the template escapes it
    ],
)
def test_format_value(value: object, kind: str, text: str) -> None:
    assert render.format_value(value, kind) == text


def test_column_kind_and_flatten() -> None:
    assert render.column_kind([0.0312, None, 0.029]) == "fixed5"
    assert render.column_kind([1, 2.0, None]) == "auto"
    assert render.column_kind(["a", None]) == "auto"
    nested = {"model": {"units": [50, 50], "dropout": None}, "empty": {}, "k": 1}
    assert render.flatten(nested) == [
        ("model.units", "50, 50"), ("model.dropout", None), ("empty", {}), ("k", 1),
    ]  # fmt: skip
    assert render.kv_pairs(nested)[1] == ("model.dropout", "n/a")
    assert render.kv_pairs(None) == [] and render.kv_pairs({}) == []


# --------------------------------------------------------------------------- tables


def test_make_table_truncates_digests_only_in_numeric_tables() -> None:
    digest = "9302f40d411fe2cc2e3283ebd80b6e225d912feabcf7fdf0f52aad6d17d72de1"
    table = make_table(["fold", "model_hash"], [["0", digest], ["1", "abc123"]])
    assert isinstance(table, Table) and table.layout == "num"
    assert table.rows[0][1] == Cell(digest, truncate=True)
    assert table.rows[1][1] == Cell("abc123")
    assert not make_table(["k", "v"], [["sha", digest]], "kv").rows[0][1].truncate
    assert make_table(["a"], []) is None
    with pytest.raises(ValueError, match="2 cells"):
        make_table(["a", "b"], [["only one"]])


def test_data_table_macro_escapes_and_keeps_every_digest_character() -> None:
    digest = "f2e74e3cb15cbfcab5445cdc7672a106fec10011caeb03b92ed2f9f22f7f285a"
    table = make_table([HOSTILE, "model_hash", "directional_accuracy"], [[HOSTILE, digest, "1"]])
    html = str(_macros().data_table(table))
    _assert_no_markup(html)
    assert html.count(HOSTILE_ESCAPED) == 1  # the cell
    assert "&lt;script&gt;" in html.split("</thead>")[0]  # the heading, with soft breaks
    assert f"<span class='digest' title='{digest}'>{digest}</span>" in html
    assert "directional_<wbr>accuracy" in html and "model_<wbr>hash" in html
    assert str(_macros().data_table(None)) == "<p class='muted'>n/a</p>"


def test_kv_table_figure_and_notes_macros_escape() -> None:
    m = _macros()
    kv = str(m.kv_table([(HOSTILE, HOSTILE)], (HOSTILE, "Value")))
    _assert_no_markup(kv)
    assert kv.count(HOSTILE_ESCAPED) == 3 and kv.startswith("<table class='kv'>")
    assert str(m.kv_table([])) == "<p class='muted'>n/a</p>"
    fig = {"name": "x' onerror='y", "caption": HOSTILE, "src": render.png_data_uri(PNG)}
    html = str(m.figure(fig))
    _assert_no_markup(html)
    assert "id='fig-x&#x27; onerror=&#x27;y'" in html  # cannot leave the quoted attribute
    assert f"alt='{HOSTILE_ESCAPED}'" in html
    notes = str(m.notes([HOSTILE, "plain"]))
    _assert_no_markup(notes)
    assert f"<li>{HOSTILE_ESCAPED}</li><li>plain</li>" in notes


def test_soft_breaks_and_html_escape() -> None:
    assert render.soft_breaks("model.kind") == Markup("model.<wbr>kind")
    assert render.soft_breaks("Sharpe (ann.)") == Markup("Sharpe (ann.)")  # no break before ")"
    assert render.soft_breaks("a_<b>.c_d") == Markup("a_&lt;b&gt;.<wbr>c_<wbr>d")
    assert render.html_escape(HOSTILE) == Markup(HOSTILE_ESCAPED)
    assert render.html_escape(Markup("<wbr>")) == Markup("<wbr>")
    assert render.html_escape(None) == Markup("None")


def test_png_data_uri_refuses_other_bytes() -> None:
    uri = render.png_data_uri(PNG)
    assert re.fullmatch(r"data:image/png;base64,[A-Za-z0-9+/=]+", uri)
    assert render.is_png(bytearray(PNG)) and not render.is_png("text")
    with pytest.raises(ValueError, match="not PNG"):
        render.png_data_uri(b"<svg></svg>")


def test_base_layout_is_self_contained() -> None:
    source = importlib.resources.files("lstm_backtrader.backtests.report") / "templates"
    for name in TEMPLATES:
        text = (source / name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "<script" not in text
        assert "@import" not in text and "url(" not in text and "@font-face" not in text
    base = (source / "base.html").read_text(encoding="utf-8")
    assert base.count("<style>") == 1
    for child in ("run.html", "sweep.html"):
        text = (source / child).read_text(encoding="utf-8")
        assert "{% extends 'base.html' %}" in text and "<style" not in text
