"""The translation layer (#16 foundation): catalogues from source, complete zh-CN translations,
locale-aware numbers and periods, render-time translation of notebook prose, the CJK font,
and facts that do not depend on the language."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import typing
import warnings
from pathlib import Path

import nbformat
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.support import Translations

from crm_lib import config, fmt, i18n
from crm_lib.reporting import render

ROOT = Path(__file__).resolve().parents[1]
ZH_PO = i18n.po_path("zh-CN")
# Messages whose Chinese is the English (a term Chinese banks write in Latin letters).
SAME_IN_CHINESE = {"KPI"}


@pytest.fixture
def zh():
    """Chinese for the test, English again afterwards (the state is per process)."""
    with i18n.using("zh-CN"):
        yield


def _catalogue():
    return i18n.read_po(ZH_PO)


def _extracted() -> dict[str, list[str]]:
    """Every message the sources hold, as `make i18n-extract` extracts them (babel.cfg)."""
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    out: dict[str, list[str]] = {}
    for fname, _line, msg, _comments, _ctx in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={**_default_keywords(), "lazy": None, "tr": None}):
        for m in (msg if isinstance(msg, tuple) else (msg,)):
            if m:
                out.setdefault(m, []).append(fname)
    return out


def _default_keywords():
    from babel.messages.extract import DEFAULT_KEYWORDS

    return dict(DEFAULT_KEYWORDS)


# --------------------------------------------------------------------------- catalogues

def test_no_compiled_catalogue_is_tracked_and_mo_files_are_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "*.mo", "**/*.mo"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked == [], f"compiled catalogues are built by `make env`, not committed: {tracked}"
    ignored = subprocess.run(["git", "check-ignore", "-q", "crm_lib/locale/zh_CN/LC_MESSAGES/crm.mo"], cwd=ROOT)
    assert ignored.returncode == 0, ".mo files must be git-ignored"
    assert ZH_PO.is_file() and (i18n.LOCALE_DIR / "crm.pot").is_file()


def test_catalogues_compile_from_source(tmp_path):
    written = i18n.compile_catalogues(out_dir=tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["zh_CN/LC_MESSAGES/crm.mo"]
    t = Translations.load(str(tmp_path), ["zh_CN"], domain=i18n.DOMAIN)
    assert t.gettext("{level} CI") == "{level}置信区间"
    assert t.gettext("active customers") == "活跃客户数"
    assert t.gettext("a message nobody wrote") == "a message nobody wrote"


def test_catalogue_checker_catches_a_dropped_placeholder():
    cat = Catalog(locale="zh_CN")
    cat.add("{level} CI", "置信区间", flags=["python-brace-format"])
    cat.add("vs %(period)s", "相对上期")
    cat.add("net promoter score: % promoters (9-10) - % detractors (0-6)", "净推荐值")   # no format: fine
    problems = dict(i18n.check_catalogue(cat))
    assert set(problems) == {"{level} CI", "vs %(period)s"}


def test_every_catalogue_message_has_a_chinese_translation():
    cat = _catalogue()
    assert i18n.check_catalogue(cat) == []
    messages = [m for m in cat if m.id]
    assert len(messages) > 150
    bad = [m.id for m in messages if not m.string or m.fuzzy
           or (m.string == m.id and m.id not in SAME_IN_CHINESE)]
    assert bad == [], f"{len(bad)} message(s) without a Chinese translation, e.g. {bad[:3]}"
    # Chinese, not English with a few words changed: every long message gains CJK characters
    latin_only = [m.id for m in messages if len(m.id) > 20 and not any("\u4e00" <= ch <= "\u9fff" for ch in m.string)]
    assert latin_only == []


def test_the_catalogue_holds_every_message_of_the_sources():
    """Notebook Markdown cells, KPI names and definitions, fmt's words and the index template:
    a new English string without a translation fails here (run `make i18n-extract`, translate)."""
    extracted = _extracted()
    cat = _catalogue()
    missing = {m: where for m, where in extracted.items() if not (cat.get(m) and cat.get(m).string)}
    assert missing == {}, f"{len(missing)} untranslated: {list(missing.items())[:3]}"
    sources = {Path(f).parts[0] if Path(f).parts[0] == "notebooks" else Path(f).name
               for where in extracted.values() for f in where}
    assert {"notebooks", "kpis.py", "fmt.py", "index.html.j2", "render.py"} <= sources


def test_the_ipynb_extractor_finds_every_markdown_cell_of_every_notebook():
    cat = _catalogue()
    n = 0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.strip()]
        with open(path, "rb") as fh:
            found = [m for _l, _f, m, c in i18n.extract_ipynb(fh, (), (), {})
                     if c[-1].startswith("notebook Markdown cell")]
        assert found == cells, path.name
        untranslated = [c[:50] for c in cells if i18n.translate_markdown(c, "zh-CN") is None]
        assert untranslated == [], f"{path.name}: cells without a translation: {untranslated}"
        assert all(cat.get(c) for c in cells)
        n += len(cells)
    assert n > 80


def test_the_ipynb_extractor_finds_what_code_cells_show(tmp_path):
    """Code cells: gettext/ngettext literals, section names and page titles; not names, expressions or
    other strings."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        'display(prose.header(ctx, "A title"))\nwith ctx.section("A section"):\n    x = 1\n'
        'plots.f(t, title=gettext("A figure"), other="not shown")\nprint("developer text")\n'
        'ngettext("{n} alert", "{n} alerts", k)\nctx.section(name)\ngettext(f"{x}")\n')]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    with open(path, "rb") as fh:
        found = [m for _l, _f, m, _c in i18n.extract_ipynb(fh, (), (), {})]
    assert found == ["A title", "A section", "A figure", ("{n} alert", "{n} alerts")]


def test_kpi_names_and_definitions_are_translated():
    from crm_lib import kpis

    msgs = [m for m, _c in i18n.kpi_messages()]
    assert len(msgs) == 2 * len(kpis.REGISTRY)
    with i18n.using("zh-CN"):
        assert i18n.kpi_label("nps") == "净推荐值 (NPS)" and i18n.kpi_label("cac") == "获客成本 (CAC)"
        assert all(i18n.kpi_label(k) != k.replace("_", " ") for k in kpis.REGISTRY)
        assert all(i18n.kpi_definition(k) != kpis.get(k).definition for k in kpis.REGISTRY)
    assert i18n.kpi_label("nps") == "nps"     # English again after the block


def test_locale_names_and_unknown_locales():
    assert i18n.normalise("zh_CN") == i18n.normalise("zh-cn") == "zh-CN"
    assert i18n.normalise(None) == "en"
    with pytest.raises(ValueError, match=r"locale 'fr'.*available: en, zh-CN"):
        i18n.normalise("fr")
    assert i18n.available() == ["en", "zh-CN"]
    # the parameter accepts exactly the languages that have a catalogue
    assert typing.get_args(config.Params.model_fields["locale"].annotation) == i18n.SUPPORTED == tuple(i18n.available())


def test_lazy_strings_translate_when_used_not_when_defined():
    title = i18n.lazy("Headline KPIs")            # not in the catalogue alone: stays English
    label = i18n.lazy("no trend yet")
    with i18n.using("zh-CN"):
        assert str(label) == "暂无趋势" and str(title) == "Headline KPIs"
    assert str(label) == "no trend yet"


# --------------------------------------------------------------------------- parameters

def test_locale_and_currency_parameters_resolve_and_validate():
    cfg = config.resolve("quarterly", ["locale=zh-CN", "currency={code: CNY, symbol: ¥}"])
    d = cfg.as_dict()
    assert d["locale"] == "zh-CN" and d["currency"] == {"code": "CNY", "symbol": "¥"}
    assert cfg.sources["locale"] == "--set"
    default = config.resolve("quarterly").as_dict()
    assert default["locale"] == "en" and default["currency"] is None
    with pytest.raises(Exception, match=r"--set: locale: Input should be 'en' or 'zh-CN'"):
        config.resolve("quarterly", ["locale=fr"])
    with pytest.raises(Exception, match=r"currency.code"):
        config.resolve("quarterly", ["currency={code: yuan}"])


# --------------------------------------------------------------------------- numbers

def test_english_output_is_unchanged_by_default():
    assert fmt.get_locale() == "en"
    assert fmt.money(40.1e9) == "40.1bn" and fmt.money(-250e3) == "-250.0k" and fmt.money(999_960) == "1.0m"
    assert fmt.ci_label(0.05) == "95% CI" and fmt.pp(0.0123) == "+1.23 pp" and fmt.p_text(None) == "p n/a"
    assert fmt.interval(-1, 2) == "-1.0 to 2.0" and fmt.pct_ci(0.02, None, None) == "2.0% (95% CI not estimable)"
    assert fmt.period("2026Q3") == "2026Q3" and fmt.date("2026-09-30") == "2026-09-30"
    assert fmt.by_unit(None, "proportion") == "n/a" and fmt.currency_label() == ""


def test_english_with_a_currency_prefixes_it():
    with i18n.using("en", {"code": "CNY", "symbol": "¥"}):
        assert fmt.money(40.1e9) == "¥40.1bn" and fmt.money(-250e3) == "-¥250.0k"
        assert fmt.by_unit(1.5e6, "currency") == "¥1.5m"
    with i18n.using("en", {"code": "CNY"}):
        assert fmt.money(40.1e9) == "CNY 40.1bn"
    assert fmt.money(40.1e9) == "40.1bn"


@pytest.mark.parametrize("x, text", [
    (0, "0"), (9_999, "9,999"), (9_999.4, "9,999"), (9_999.6, "1.00万"), (10_000, "1.00万"),
    (12_345, "1.23万"), (99_994_999, "9,999.50万"), (99_999_999, "1.00亿"), (401_234_567, "4.01亿"),
    (-401_234_567, "-4.01亿"), (-0.3, "0"), (1.5e12, "1.50万亿"), (float("nan"), "暂无"), (None, "暂无"),
])
def test_chinese_amounts_use_wan_and_yi(zh, x, text):
    assert fmt.money(x) == text


def test_chinese_currency_and_percentages(zh):
    assert fmt.pct(0) == "0.0%" and fmt.pct(1) == "100.0%" and fmt.pct(-1e-5) == "0.0%" and fmt.pct(0.123) == "12.3%"
    assert fmt.pct(math.nan) == "暂无" and fmt.pp(0.0123) == "+1.23 个百分点" and fmt.pp(0) == "0.00 个百分点"
    assert fmt.ci_label(0.05) == "95%置信区间" and fmt.ci_label(0.025) == "97.5%置信区间"
    assert fmt.interval(-1, 2) == "-1.0 至 2.0" and fmt.interval(None, 2) == "区间无法估计"
    assert fmt.pct_ci(0.021, 0.019, 0.023) == "2.1% (95%置信区间 1.9%-2.3%)"
    assert fmt.integer(12345) == "12,345" and fmt.number(-0.04) == "0.0" and fmt.signed(1234.5) == "+1,234.5"
    assert fmt.p_text(None) == "p 暂无" and fmt.p_text(0.0001) == "p < 0.001"
    with i18n.using("zh-CN", {"code": "CNY", "symbol": "¥"}):
        assert fmt.money(401_234_567) == "4.01亿元" and fmt.money(-5) == "-5元" and fmt.currency_label() == "元"
    with i18n.using("zh-CN", {"code": "USD", "symbol": "US$"}):
        assert fmt.money(401_234_567) == "US$4.01亿"


def test_chinese_periods_and_dates(zh):
    assert fmt.period("2026Q3") == "2026年第3季度"
    assert fmt.period("2026-09") == "2026年9月" and fmt.period("2026-12") == "2026年12月"
    assert fmt.period("2026") == "2026年" and fmt.period("2026q1") == "2026年第1季度"
    assert fmt.period("<b>") == "&#60;b&#62;"            # not a period: escaped, not parsed
    assert fmt.date("2026-09-30") == "2026年9月30日"


def test_numbers_round_the_same_in_both_languages():
    values = [0.125, 2.675, 1234.5, -0.05, 0.0049999, 1e-7, 987654.321]
    en = [fmt.number(v, 2) for v in values]
    with i18n.using("zh-CN"):
        zh_ = [fmt.number(v, 2) for v in values]
    assert en == zh_          # zh-CN shares en's symbols: any difference would be a rounding difference


# --------------------------------------------------------------------------- figures

def test_a_chinese_figure_has_no_missing_glyph_and_uses_the_cjk_family(tmp_path, caplog):
    from crm_lib.plots import _style

    if _style.cjk_font() is None:
        pytest.skip(f"{_style.CJK_FAMILY} is not installed (`make fonts`)")
    with i18n.using("zh-CN"):
        fig, ax = _style._new()
        ax.plot([1, 2], [3e8, 4.01e8], label=i18n.kpi_label("total_aum"))
        ax.set_title(f"{i18n.kpi_label('churn_rate_period')} {fmt.period('2026Q3')}")
        ax.yaxis.set_major_formatter(_style._thousands)
        ax.legend()
        fig = _style._done(fig)
        with warnings.catch_warnings(record=True) as w, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            fig.savefig(tmp_path / "zh.png")
        glyphs = [str(x.message) for x in w if "Glyph" in str(x.message)] + \
                 [r.getMessage() for r in caplog.records if "Glyph" in r.getMessage()]
        assert glyphs == []
        assert _style.CJK_FAMILY in ax.title.get_fontfamily()
        assert _style._thousands(4.01e8) == "4.01亿"
    import matplotlib

    assert matplotlib.rcParams["font.family"] == ["sans-serif"]      # English figures again
    assert _style._thousands(4.01e8) == "401m"


# --------------------------------------------------------------------------- pages

def _executed(tmp_path: Path, locale: str | None, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c) for c in cells]
    code = nbformat.v4.new_code_cell("print(1)")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="tier table 42\n")]
    nb.cells.append(code)
    nb.metadata["papermill"] = {"parameters": {"params": {"locale": locale} if locale else {}}}
    path = tmp_path / f"nb_{locale}.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_render_translates_each_markdown_cell_when_the_run_is_chinese(tmp_path, caplog):
    export = "## Export"
    tiers = next(m for m in i18n.notebook_messages() if m.startswith("## Value tiers"))
    new_cell = "## A heading nobody translated yet"
    src = _executed(tmp_path, "zh-CN", [export, tiers, new_cell])
    with caplog.at_level(logging.WARNING, logger="crm_lib.reporting.render"):
        html = render.render_html(src, tmp_path / "zh.html", failed=True).read_text()
    assert '<html lang="zh">' in html
    assert "导出" in html and "价值层级" in html and ">Export<" not in html and "Value tiers" not in html
    assert "tier table 42" in html                               # outputs untouched
    assert "本笔记本运行失败" in html and "This notebook failed" not in html
    assert new_cell[3:] in html and "1 Markdown cell(s) have no zh-CN translation" in caplog.text
    assert nbformat.read(str(src), as_version=4).cells[0].source == export    # the notebook stays English

    html_en = render.render_html(_executed(tmp_path, None, [export]), tmp_path / "en.html").read_text()
    assert '<html lang="en">' in html_en and ">Export<" in html_en and "导出" not in html_en


def test_the_index_speaks_the_language_of_its_newest_pack(tmp_path):
    from crm_lib.reporting.index import build_index

    pack = tmp_path / "quarterly" / "2026Q3"
    pack.mkdir(parents=True)
    (pack / "manifest.json").write_text(json.dumps({"status": "ok", "parameters": {"locale": "zh-CN"},
                                                    "notebooks": []}))
    html = build_index(tmp_path).read_text()
    assert '<html lang="zh">' in html and "<title>客户关系管理 (CRM) 报告包</title>" in html
    assert "报告期</th>" in html and "Every profile and period" not in html
    assert fmt.get_locale() == "en"                              # the runner's process is English again
    (pack / "manifest.json").write_text(json.dumps({"status": "ok", "parameters": {}, "notebooks": []}))
    html = build_index(tmp_path).read_text()
    assert '<html lang="en">' in html and "<title>CRM report packs</title>" in html


# --------------------------------------------------------------------------- facts do not depend on the language

def test_facts_are_identical_in_english_and_chinese(tiny_bank):
    """The overview's facts through the notebook's own calls: only their presentation changes."""
    from crm_lib import overview
    from crm_lib.reporting import open_context

    facts, texts = {}, {}
    for locale in ("en", "zh-CN"):
        params = config.resolve("quarterly", [f"locale={locale}", "currency={code: CNY, symbol: ¥}"]).as_dict()
        ctx = open_context("00_data_overview", str(tiny_bank / "warehouse.duckdb"), "2026Q3", "quarterly", params)
        try:
            assert fmt.get_locale() == locale
            mv = overview.base_movement(ctx.wh, ctx.period, alpha=ctx.params["alpha"])
            tiers = overview.customers_by_tier(ctx.wh, ctx.period, ctx.params)
            overview.record_facts(ctx.facts, mv, tiers, ctx.door, alpha=ctx.params["alpha"])
            facts[locale] = json.dumps(ctx.facts.table().to_dict("records"), sort_keys=True, default=str)
            texts[locale] = fmt.by_unit(ctx.facts.facts["total_aum"].value, "currency")
        finally:
            ctx.wh.close()
            i18n.use("en")
    assert facts["en"] == facts["zh-CN"] and len(json.loads(facts["en"])) >= 5
    assert texts["en"].startswith("¥") and texts["zh-CN"].endswith("元") and texts["en"] != texts["zh-CN"]
