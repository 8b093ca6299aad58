"""`gaitloop train csm`, `gaitloop eval csm` and `gaitloop eval csm-table5` (CLI plug-in).

Wired by listing "gaitloop.cli_csm" in cli.py's _PLUGINS; `register(app, train, eval_)` adds
the commands to the `train` and `eval` sub-apps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "models" / "csm_default.json"


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def _subjects(arg: str | None) -> set[str] | None:
    return {s.strip() for s in arg.split(",") if s.strip()} if arg else None


def train_csm(
    data: Annotated[Path, typer.Option(help="Huang events_and_forces dir or gaitpdb files.")],
    out: Annotated[Path, typer.Option(help="Template JSON to write.")],
    subjects: Annotated[str | None, typer.Option(help="Comma-separated subjects to train on (default all).")] = None,
    pop_size: Annotated[int, typer.Option(help="Algorithm 1 PopSize.")] = 20,
    max_gen: Annotated[int, typer.Option(help="Algorithm 1 MaxGen.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the two CSM templates (Lopez-Meyer labels, evolutionary Algorithm 1)."""
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.train import CSMTrainer
    from gaitloop.errors import DataError
    from gaitloop.outpaths import check_file_target

    try:
        check_file_target(out)  # before the evolution, not after it
    except DataError as exc:
        _fail(str(exc))
    try:
        streams = load_streams(data)
        keep = _subjects(subjects)
        if keep is not None:
            streams = [s for s in streams if s.subject in keep]
            if not streams:
                raise CSMError(f"none of the subjects {sorted(keep)} found in {data}")
        model = CSMTrainer(pop_size, max_gen, seed).fit(streams)
    except (CSMError, ValueError) as exc:
        _fail(str(exc))
    model.templates_.meta["data"] = str(data)
    model.templates_.save(out)
    m = model.templates_.meta
    typer.echo(f"wrote {out}: {m['n_streams']} streams of {len(m['trained_on'])} subjects, "
               f"final fitness on {m['fitness_final']['on']:.1f} off {m['fitness_final']['off']:.1f}")


def eval_csm(
    data: Annotated[Path, typer.Option(help="Huang events_and_forces dir or gaitpdb files.")],
    templates: Annotated[Path, typer.Option(help="Template JSON (default: the shipped one).")] = DEFAULT_TEMPLATES,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    baselines: Annotated[bool, typer.Option(help="Also fit and score PM and STTTA.")] = True,
    faults: Annotated[bool, typer.Option("--faults", help="Fault benchmark: clean labels, faulted counts (docs/csm.md).")] = False,
    fault_list: Annotated[str | None, typer.Option(help="Comma-separated faults for --faults (default all).")] = None,
    per_subject: Annotated[bool, typer.Option("--per-subject", help="E1-E4 per unseen subject and pooled, every method.")] = False,
    subjects: Annotated[str | None, typer.Option(help="Comma-separated test subjects (a subset, e.g. for a fast check).")] = None,
    seed: Annotated[int, typer.Option(help="Fault injection seed.")] = 0,
    lo_blocks: Annotated[int | None, typer.Option(help="Override the templates' params.lo_blocks (1-8): the floor from the newest N blocks (4 tracks drift / creep, docs/csm.md).")] = None,
) -> None:
    """Score CSM (board fixed point and float reference), PM and STTTA: E1-E4 in percent.

    --faults: the fault benchmark (labels from the clean signal, detectors fed faulted
    counts), JSON on stdout, progress on stderr. --per-subject: E1-E4 per unseen subject.

    Subjects listed in the template file's `trained_on` are left out, so templates are never
    scored on the people they were trained on. PM / STTTA factors are fitted on those training
    subjects when available in DATA, else on the first quarter of the subjects.
    """
    from gaitloop.csm.baselines import Baselines
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.evaluate import evaluate
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.model import CSMTemplates

    try:
        tpl = CSMTemplates.load(templates)
        if lo_blocks is not None:
            if not 1 <= lo_blocks <= 8:
                raise CSMError(f"--lo-blocks must be 1-8, got {lo_blocks}")
            tpl.params["lo_blocks"] = lo_blocks
        streams = load_streams(data)
        trained = set(tpl.meta.get("trained_on", []))
        test = [s for s in streams if s.subject not in trained]
        if not test:
            raise CSMError("every subject in DATA was used to train these templates")
        base = None
        fit_on: list = []
        if baselines or faults or per_subject:
            fit_on = [s for s in streams if s.subject in trained]
            if not fit_on:
                subs = sorted({s.subject for s in test})
                first = set(subs[: max(1, len(subs) // 4)])
                fit_on = [s for s in test if s.subject in first]
                test = [s for s in test if s.subject not in first] or test
            base = Baselines().fit(fit_on)
        keep = _subjects(subjects)
        if keep is not None:
            test = [s for s in test if s.subject in keep]
            if not test:
                raise CSMError(f"none of the subjects {sorted(keep)} is an unseen subject in {data}")
        if faults or per_subject:
            from gaitloop.csm.fault_eval import run

            res = run(test, tpl, base, faults, per_subject, fault_list, seed)
            res["excluded_training_subjects"] = sorted(trained & {s.subject for s in streams})
            typer.echo(json.dumps(res, indent=1))
            return
        res = evaluate(test, tpl, base, progress=not as_json)
    except (CSMError, ValueError) as exc:
        _fail(str(exc))
    res["excluded_training_subjects"] = sorted(trained & {s.subject for s in streams})
    if as_json:
        typer.echo(json.dumps(res, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"CSM on {res['n_recordings']} recordings, {res['n_steps']} steps")
    for col in ("method", "E1 %", "E2 %", "E3 %", "E4 %", "E4 strict %", "floor %"):
        t.add_column(col)
    for m in ("csm_fixed", "csm_float", "pm", "sttta"):
        if m in res:
            r = res[m]
            t.add_row(m, *(f"{r[k]:.2f}" for k in ("E1", "E2", "E3", "E4", "E4_strict",
                                                   "E4_strict_floor")))
    Console().print(t)
    typer.echo(f"fixed vs float agreement: {res['fixed_vs_float']['agreement_pct']:.3f} %")


def eval_table5(
    data: Annotated[Path, typer.Option(help="Huang events_and_forces directory.")],
    reps: Annotated[int, typer.Option(help="Repetitions (evolution seeds) per training size.")] = 10,
    max_gen: Annotated[int, typer.Option(help="Algorithm 1 MaxGen.")] = 200,
    out: Annotated[Path | None, typer.Option(help="Write the full result JSON here.")] = None,
) -> None:
    """Reproduce the paper's Table 5 protocol (25 / 50 / 75 training recordings)."""
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.protocol import run_table5

    def save(partial: dict) -> None:  # after every row: an interrupted run keeps its rows
        if out:
            Path(out).write_text(json.dumps(partial, indent=1) + "\n")

    try:
        res = run_table5(load_streams(data), reps=reps, max_gen=max_gen, log=typer.echo,
                         on_row=save)
    except (CSMError, ValueError) as exc:
        _fail(str(exc))
    save(res)
    typer.echo(json.dumps({"average": res["average"], "pm": res["pm"], "sttta": res["sttta"]},
                          indent=1))


def register(app: typer.Typer, train: typer.Typer, eval_: typer.Typer) -> None:
    """Add the CSM commands to the `train` and `eval` sub-apps."""
    train.command("csm")(train_csm)
    eval_.command("csm")(eval_csm)
    eval_.command("csm-table5")(eval_table5)
