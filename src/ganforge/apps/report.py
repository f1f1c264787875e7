"""`ganforge report`: one self-contained HTML page for a run, or one page comparing several.

Everything the page shows is read from the run folder (config.toml, metrics.jsonl, samples/, eval/, best/,
history.jsonl); charts are matplotlib SVG inlined in the page and sample grids are PNG data URIs, so the file
opens from disk with no network. The page carries a small self-check (`window.ganforgeReportCheck()`): every
image decoded, and every chart line has as many vertices as its data has finite points.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.atomic import write_text_atomic
from ganforge.config import Config
from ganforge.errors import CheckpointError, ConfigError
from ganforge.plots import Chart, Series, chart_svg, series_from
from ganforge.train.logging import read_metrics
from ganforge.train.rundir import RunDir

MAX_GRIDS = 40            # sample grids embedded per run (evenly spaced over the run, the last always)
GRID_NAME = re.compile(r"step-(\d+)\.png$")
HISTOGRAM_BIN = re.compile(r"/class_\d+$")  # a class histogram's bins: in the evaluation table, not one chart each
CHART_GROUPS: tuple[tuple[str, str, re.Pattern[str], bool], ...] = (
    # (title, y label, which record keys, log scale)
    ("Losses", "loss", re.compile(r"^(D\d*|G)/loss$"), False),
    ("D(x) and D(G(z))", "D's mean verdict (WGAN: critic score)", re.compile(r"^D\d*/(real|fake)$"), False),
    ("D's accuracy", "real and fake told apart", re.compile(r"^D\d*/(accuracy|confident|class_accuracy)$"), False),
    ("Gradient norms", "L2 norm", re.compile(r"^(D\d*|G)/grad_norm$"), True),
    ("Regularisers and class losses", "weighted term",
     re.compile(r"^(D\d*|G)/(r1|r2|gp|class\w*|supervised|unsupervised)$"), False),
    ("Sample diversity (diagnostics)", "generated / real", re.compile(r"^diversity_ratio$"), False),
    ("Throughput", "images / s", re.compile(r"^images_per_s$"), False),
)


@dataclass
class RunRecords:
    """What a report shows of one run."""

    root: Path
    name: str
    config: Config
    config_text: str
    training: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    grids: list[tuple[int, Path]]
    eval_files: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_step(self) -> int:
        steps = [r["step"] for r in self.training] + [s for s, _ in self.grids]
        return max(steps, default=0)


def read_run(root: str | Path) -> RunRecords:
    """A run folder's records; a folder that is not a run is refused in one line."""
    run = RunDir(root)
    if not run.root.is_dir():
        raise ConfigError(f"'{root}' does not exist; pass the --out folder of a 'ganforge train' run")
    if not run.is_run():
        raise CheckpointError(f"'{root}' is not a ganforge run folder (no config.toml); pass the --out folder of a "
                              "'ganforge train' run")
    config = run.read_config()
    records = read_metrics(run.metrics) if run.metrics.exists() else []
    training = [r for r in records if "images_per_s" in r]
    evaluations = [r for r in records if any(k.startswith("eval/") for k in r)]
    warnings = [r for r in records if "warning" in r]
    grids = sorted((int(m.group(1)), p) for p in run.samples.glob("step-*.png") if (m := GRID_NAME.search(p.name)))
    eval_files = []
    for path in sorted(run.evals.glob("*.json")) if run.evals.is_dir() else []:
        try:
            eval_files.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a damaged evaluation file is left out of the page, not fatal to it
    best = None
    best_meta = run.best / "generator.json"
    if best_meta.is_file():
        try:
            best = json.loads(best_meta.read_text(encoding="utf-8")).get("best")
        except (OSError, ValueError):
            best = None
    history = []
    if run.history.is_file():
        for line in run.history.read_text(encoding="utf-8").splitlines():
            try:
                history.append(json.loads(line))
            except ValueError:
                continue
    return RunRecords(run.root, run.root.name or str(run.root), config, run.config.read_text(encoding="utf-8"),
                      training, evaluations, warnings, grids, eval_files, best, history)


def _spaced(grids: list[tuple[int, Path]], limit: int) -> list[tuple[int, Path]]:
    if len(grids) <= limit:
        return grids
    picks = {round(i * (len(grids) - 1) / (limit - 1)) for i in range(limit)}
    return [grids[i] for i in sorted(picks)]


def _charts(runs: list[RunRecords], prefix: str) -> list[Chart]:
    """One chart per group of metrics; with several runs every line is labelled with its run."""
    several = len(runs) > 1
    charts: list[Chart] = []
    groups: list[tuple[str, str, list[str] | re.Pattern[str], bool]] = list(CHART_GROUPS)
    eval_keys = sorted({k for run in runs for r in run.evaluations for k in r if k.startswith("eval/")
                        and not k.endswith("_std") and not HISTOGRAM_BIN.search(k)})
    for key in eval_keys:
        groups.append((f"Evaluation during training: {key[5:]}", key[5:], [key], False))
    for index, (title, ylabel, keys, log_y) in enumerate(groups):
        series: list[Series] = []
        for run in runs:
            records = run.evaluations if isinstance(keys, list) else run.training
            present = keys if isinstance(keys, list) else sorted({k for r in records for k in r if keys.match(k)})
            for key in present:
                found = series_from(records, key, f"{run.name}: {key}" if several else key)
                if found is not None:
                    series.append(found)
        if not series:
            continue
        marks = [(int(w["step"]), (f"{run.name}: " if several else "") + str(w["warning"]))
                 for run in runs for w in run.warnings]
        charts.append(Chart(f"{prefix}c{index}", title, ylabel, series, marks, log_y))
    rates = [s for run in runs for s in logged_or_scheduled_rates(run, several)]
    if rates:
        charts.insert(4, Chart(f"{prefix}lr", "Learning rate", "lr", rates, [], False))
    return charts


def logged_or_scheduled_rates(run: RunRecords, labelled: bool) -> list[Series]:
    """Each net's learning rate as logged (lr/<net>), or from the config's schedule for runs logged before that."""
    keys = sorted({k for r in run.training for k in r if k.startswith("lr/")})
    if keys:
        name = f"{run.name}: " if labelled else ""
        return [s for key in keys if (s := series_from(run.training, key, f"{name}{key[3:]}")) is not None]
    return learning_rates(run, labelled)


def learning_rates(run: RunRecords, labelled: bool) -> list[Series]:
    """G's and D's learning rate at each logged step, from the config's schedule (train.lr_decay)."""
    train = run.config.train
    steps = [int(r["step"]) for r in run.training]
    if not steps:
        return []

    def factor(step: int) -> float:  # as the trainer applies it before step `step` (1-based records: step - 1)
        done = step - 1
        if train.lr_decay != "linear" or done < train.lr_decay_start:
            return 1.0
        return 1.0 - (done - train.lr_decay_start) / (train.steps - train.lr_decay_start)

    name = f"{run.name}: " if labelled else ""
    return [Series(f"{name}{net} lr", steps, [rate * factor(s) for s in steps])
            for net, rate in (("G", train.lr_g), ("D", train.lr_d))]


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _summary_rows(run: RunRecords) -> list[tuple[str, str]]:
    config = run.config
    model, train, data = config.model, config.train, config.data
    last = run.training[-1] if run.training else {}
    rows = [("family", model.family), ("data", data.source), ("steps", f"{run.last_step:,} of {train.steps:,}"),
            ("batch size", str(train.batch_size)), ("learning rates (G / D)", f"{train.lr_g:g} / {train.lr_d:g}"),
            ("nets", f"{model.arch} (G width {model.g_width}, D width {model.d_width})"),
            ("condition", model.condition), ("seed", str(train.seed)),
            ("threads", str(last.get("threads", train.threads))),
            ("images / s (last log)", f"{last['images_per_s']:.0f}" if "images_per_s" in last else "-")]
    if data.target:  # paired folders' targets, or a second, unpaired domain (CycleGAN)
        rows.insert(2, ("domain B (unpaired)" if data.unpaired else "targets (paired by name)", data.target))
    if model.discriminators > 1:
        rows.append(("discriminators", f"{model.discriminators} ({model.d_combine}, data {model.d_data})"))
    if run.best:
        rows.append(("best generator", f"step {run.best.get('step')}: {run.best.get('key')} = "
                                       f"{run.best.get('value'):.4g}"))
    return [(k, str(v)) for k, v in rows]


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _evaluation_section(runs: list[RunRecords]) -> str:
    parts = []
    for run in runs:
        for record in run.eval_files:
            results = record.get("results", {})
            rows = [[key, f"{value:.4g}" if isinstance(value, (int, float)) else str(value)]
                    for key, value in results.items()]
            protocol = json.dumps(record.get("protocol", {}), indent=2)
            parts.append(f"<h3>{_e(run.name)}: 'ganforge eval' at step {_e(record.get('step'))} "
                         f"(seed {_e(record.get('seed'))}, {_e(record.get('wall_time_s'))} s)</h3>"
                         + _table(rows, ["metric", "value"])
                         + f"<details><summary>protocol</summary><pre>{_e(protocol)}</pre></details>")
        if run.evaluations:
            keys = sorted({k for r in run.evaluations for k in r if k.startswith("eval/")})
            rows = [[str(r["step"]), *[f"{r[k]:.4g}" if isinstance(r.get(k), (int, float)) else "-" for k in keys]]
                    for r in run.evaluations]
            parts.append(f"<h3>{_e(run.name)}: evaluations during training</h3>"
                         + _table(rows, ["step", *[k[5:] for k in keys]]))
    if not parts:
        return ("<p>No evaluation yet: run <code>ganforge eval RUN</code>, or train with "
                "<code>--train.eval_every N</code>.</p>")
    return "".join(parts)


def _grids_section(run: RunRecords, index: int) -> str:
    grids = _spaced(run.grids, MAX_GRIDS)
    if not grids:
        return "<p>No sample grids yet (they are written every train.sample_every steps).</p>"
    images = "".join(f'<img class="grid" data-step="{step}" alt="samples at step {step}" src="{_data_uri(path)}"'
                     f'{"" if i == len(grids) - 1 else " hidden"}>' for i, (step, path) in enumerate(grids))
    last = len(grids) - 1
    return (f'<div class="slider" id="grids{index}"><label>step <output>{grids[-1][0]}</output> '
            f'<input type="range" min="0" max="{last}" value="{last}" step="1" aria-label="sample grid step">'
            f'</label><div class="frames">{images}</div></div>')


def _warnings_section(runs: list[RunRecords]) -> str:
    rows = [[run.name, str(w["step"]), str(w["warning"]), str(w.get("message", ""))] for run in runs
            for w in run.warnings]
    if not rows:
        return "<p>The diagnostics raised no warning.</p>"
    return _table(rows, ["run", "step", "kind", "what it means and what to try"])


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1400px;
color:#222;padding:0 16px}h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:.9em;text-align:left}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
.charts figure{margin:0;border:1px solid #eee;padding:4px}.charts svg{width:100%;height:auto}
.runs{display:flex;flex-wrap:wrap;gap:24px}.slider img{image-rendering:pixelated;max-width:100%;min-width:384px}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:.85em}
"""

SCRIPT = """
(function(){
  for (const slider of document.querySelectorAll('.slider')) {
    const frames = slider.querySelectorAll('img.grid');
    const range = slider.querySelector('input');
    const shown = slider.querySelector('output');
    range.addEventListener('input', () => {
      frames.forEach((img, i) => { img.hidden = i !== Number(range.value); });
      shown.textContent = frames[Number(range.value)].dataset.step;
    });
  }
  window.ganforgeReportCheck = function() {
    const images = Array.from(document.images);
    const broken = images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.alt);
    const charts = [];
    for (const figure of document.querySelectorAll('figure.chart')) {
      const expected = JSON.parse(figure.dataset.points);
      const found = {};
      for (const id of Object.keys(expected)) {
        const path = figure.querySelector('g[id="' + id + '"] path');
        const d = path ? path.getAttribute('d') : '';
        found[id] = (d.match(/[ML]/g) || []).length;
      }
      charts.push({id: figure.id, expected: expected, found: found});
    }
    return {images: images.length, broken: broken, charts: charts};
  };
})();
"""


def _chart_figure(chart: Chart) -> str:
    points = json.dumps({f"{chart.chart_id}-s{k}": s.finite_points for k, s in enumerate(chart.series)})
    return f'<figure class="chart" id="{chart.chart_id}" data-points="{_e(points)}">{chart_svg(chart)}</figure>'


def render(runs: list[RunRecords]) -> str:
    """The HTML page for one run, or a comparison of several."""
    several = len(runs) > 1
    title = "ganforge: " + (" vs ".join(r.name for r in runs) if several else f"run {runs[0].name}")
    summary_keys = [k for k, _ in _summary_rows(runs[0])]
    summaries = [dict(_summary_rows(r)) for r in runs]
    summary_rows = [[k, *[s.get(k, "-") for s in summaries]] for k in summary_keys]
    charts = "".join(_chart_figure(c) for c in _charts(runs, "r"))
    grids = "".join(f"<section><h3>{_e(r.name)}</h3>{_grids_section(r, i)}</section>" for i, r in enumerate(runs))
    configs = "".join(f"<details><summary>{_e(r.name)}: config.toml</summary><pre>{_e(r.config_text)}</pre></details>"
                      for r in runs)
    history = "".join(f"<details><summary>{_e(r.name)}: history ({len(r.history)} commands)</summary><pre>"
                      + _e("\n".join(json.dumps(h) for h in r.history)) + "</pre></details>" for r in runs)
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    folders = ", ".join(str(r.root) for r in runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p>Written {generated} by <code>ganforge report</code> from {_e(folders)}.</p>
<h2>Summary</h2>
{_table(summary_rows, ["", *[r.name for r in runs]])}
{configs}{history}
<h2>Curves</h2>
<p>Means over each log interval; dashed red lines mark the diagnostics' warnings.</p>
<div class="charts">{charts or "<p>No training records yet.</p>"}</div>
<h2>Diagnostics</h2>
{_warnings_section(runs)}
<h2>Samples {"(last grid of each run; slide through the steps)" if several else "over the run"}</h2>
<div class="runs">{grids}</div>
<h2>Evaluation</h2>
{_evaluation_section(runs)}
<script>{SCRIPT}</script>
</body></html>
"""


def write_report(roots: list[str | Path], out: str | Path | None = None) -> Path:
    """Write the page (default: RUN/report.html for one run) atomically; returns its path."""
    if not roots:
        raise ConfigError("name at least one run folder")
    runs = [read_run(root) for root in roots]
    names = [r.name for r in runs]
    for run in runs:  # two runs of the same folder name get told apart by their path
        if names.count(run.name) > 1:
            run.name = str(run.root)
    if out is None:
        if len(runs) > 1:
            raise ConfigError("a comparison of several runs needs --out FILE.html (it belongs to no one run)")
        out = runs[0].root / "report.html"
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out '{out}' is a folder; name an .html file, e.g. {out / 'report.html'}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out '{out}' should end in .html (the report is one HTML page)")
    if not out.parent.exists():
        raise ConfigError(f"the folder of --out '{out}' does not exist; create it first")
    write_text_atomic(out, render(runs))
    return out
