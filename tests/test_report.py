"""`ganforge report`: a self-contained page for a run of every family and kind of data, checked in Python and, where
Debian's chromium is installed, in a real headless browser (from the page itself: console errors, decoded images,
chart points)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ganforge
from ganforge.apps.report import MAX_GRIDS, write_report
from ganforge.cli import main
from ganforge.families import FAMILIES

from conftest import family_data, tiny

RUN_SETTINGS = {"train__steps": 6, "train__log_every": 2, "train__sample_every": 2, "train__checkpoint_every": 6}


def train_run(root: Path, family: str, source: str, **extra: object) -> Path:
    settings = {**RUN_SETTINGS, **extra}
    if family == "sgan":
        settings["data__labelled"] = 2
    ganforge.train({**tiny(model__family=family, data__source=source, data__max_samples=80, **settings),
                    **family_data(family)}, out=root)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny run of every family on images, of each vector family on the ring, and one with two D's."""
    base = tmp_path_factory.mktemp("report-runs")
    found = {f"{name}-digits": train_run(base / f"{name}-digits", name, "digits") for name in FAMILIES}
    found.update({f"{name}-ring": train_run(base / f"{name}-ring", name, "ring")
                  for name, family in FAMILIES.items() if "vector" in family.archs and name in ("vanilla", "cgan")})
    found["dcgan-2d"] = train_run(base / "dcgan-2d", "dcgan", "digits", model__discriminators=2)
    return found


def chart_points(page: str) -> list[tuple[dict[str, int], dict[str, int]]]:
    """Per chart: the points each line should have (data-points) and the vertices its SVG path has."""
    out = []
    for match in re.finditer(r'<figure class="chart" id="[^"]+" data-points="([^"]+)">(.*?)</figure>', page, re.S):
        expected = json.loads(match.group(1).replace("&quot;", '"'))
        found = {}
        for gid in expected:
            path = re.search(rf'<g id="{re.escape(gid)}">\s*<path d="([^"]*)"', match.group(2))
            found[gid] = len(re.findall(r"[ML]", path.group(1))) if path else 0
        out.append((expected, found))
    return out


@pytest.mark.parametrize("key", [f"{name}-digits" for name in FAMILIES] + ["vanilla-ring", "cgan-ring", "dcgan-2d"])
def test_report_shows_curves_samples_and_config_of_every_family(key: str, runs: dict[str, Path]) -> None:
    run = runs[key]
    path = write_report([run])
    page = path.read_text(encoding="utf-8")
    assert path == run / "report.html" and page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # self-contained: nothing to fetch
    charts = chart_points(page)
    assert len(charts) >= 5
    for expected, found in charts:  # every line has one vertex per logged point (at most 3: steps 2, 4, 6)
        assert expected == found and all(1 <= count <= 3 for count in expected.values())
    assert chart_points(page)[0][0]["rc0-s0"] == 3  # D's loss, logged at every log step
    grids = sorted((run / "samples").glob("step-*.png"))
    assert page.count('<img class="grid"') == len(grids) == 3
    assert "Losses" in page and "D(x) and D(G(z))" in page and "config.toml" in page
    if key == "dcgan-2d":
        assert "D0/loss" in page and "D1/loss" in page


def test_comparison_page_overlays_runs_and_needs_an_out_file(runs: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.html"
    assert main(["report", str(runs["dcgan-digits"]), str(runs["r3gan-digits"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert "dcgan-digits: D/loss" in page and "r3gan-digits: D/loss" in page
    assert main(["report", str(runs["dcgan-digits"]), str(runs["r3gan-digits"])]) == 2
    assert "--out" in capsys.readouterr().err


def test_warnings_and_evaluations_appear_on_the_page(runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["dcgan-digits"], run)
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": 4, "warning": "mode_collapse", "message": "samples look alike. Try X"}) + "\n")
    (run / "eval").mkdir()
    (run / "eval" / "step-0000006.json").write_text(json.dumps(
        {"run": str(run), "step": 6, "seed": 0, "wall_time_s": 1.0, "results": {"fid": 123.4},
         "protocol": {"fid": {"features": "inception"}}}), encoding="utf-8")
    page = write_report([run]).read_text(encoding="utf-8")
    assert "mode_collapse" in page and "samples look alike" in page
    assert "123.4" in page and "protocol" in page


def test_only_some_grids_are_embedded_from_a_long_run(runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["dcgan-digits"], run)
    grid = (run / "samples" / "step-0000006.png").read_bytes()
    for step in range(8, 8 + 2 * 100, 2):
        (run / "samples" / f"step-{step:07d}.png").write_bytes(grid)
    page = write_report([run]).read_text(encoding="utf-8")
    assert page.count('<img class="grid"') == MAX_GRIDS and 'data-step="206"' in page  # the last one always


@pytest.mark.parametrize("bad", ["not-a-run", "missing"])
def test_report_on_a_folder_that_is_not_a_run_is_one_line(bad: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / bad
    if bad == "not-a-run":
        folder.mkdir()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and str(folder) in err
    assert not (folder / "report.html").exists()


# -- in a real browser ------------------------------------------------------------------------------------------
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; "
                                   ".ci/run installs it)")
# Injected first in <head>: records console errors, uncaught errors and failed resources, then after load writes
# the page's own check (window.ganforgeReportCheck) and the errors into the DOM, which --dump-dom prints.
PROBE = """<script>window.__errors=[];const __ce=console.error;
console.error=function(...a){window.__errors.push(a.map(String).join(' '));__ce.apply(console,a);};
window.addEventListener('error',e=>{window.__errors.push(String(e.message||(e.target&&(e.target.src||e.target.href))
||'resource error'));},true);
window.addEventListener('load',()=>{let check=null;try{check=window.ganforgeReportCheck();}catch(e){
window.__errors.push('check failed: '+e);}const p=document.createElement('pre');p.id='__probe';
p.textContent=JSON.stringify({check:check,errors:window.__errors});document.body.appendChild(p);});</script>"""


def browse(page: Path, tmp_path: Path) -> dict:
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="__probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page never finished loading: {done.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
    result["stderr_console"] = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return result


@needs_browser
def test_report_loads_in_chromium_without_errors_with_every_image_and_chart_point(runs: dict[str, Path],
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    write_report([runs["cgan-digits"], runs["vanilla-ring"], runs["dcgan-2d"]], out)
    for page in (out, write_report([runs["sgan-digits"]])):
        result = browse(page, tmp_path)
        assert result["errors"] == [] and result["stderr_console"] == []
        check = result["check"]
        assert check["broken"] == [] and check["images"] >= 3
        assert check["charts"] and all(c["expected"] == c["found"] for c in check["charts"])
        assert all(count > 0 for c in check["charts"] for count in c["found"].values())


@needs_browser
def test_the_browser_check_catches_a_broken_image_and_a_missing_line(runs: dict[str, Path], tmp_path: Path) -> None:
    page = write_report([runs["dcgan-digits"]]).read_text(encoding="utf-8")
    broken = re.sub(r'src="data:image/png;base64,[^"]{40}', 'src="data:image/png;base64,AAAA', page, count=1)
    broken = re.sub(r'(<g id="rc0-s0">\s*<path d=")[^"]*"', r'\1M 0 0"', broken, count=1)
    damaged = tmp_path / "damaged.html"
    damaged.write_text(broken, encoding="utf-8")
    check = browse(damaged, tmp_path)["check"]
    assert len(check["broken"]) == 1
    assert any(c["expected"] != c["found"] for c in check["charts"])
