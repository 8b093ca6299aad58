"""`gaitloop data` (list the datasets, their licences and presence) and `gaitloop data fetch`.

Wired by listing "gaitloop.cli_data" in cli.py's _PLUGINS. The registry itself lives in
`gaitloop.datasets`; this module only prints it and reports failures as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _list(verify: bool) -> None:
    from gaitloop import datasets

    for st in datasets.status():
        ds = st.dataset
        where = str(st.folder) if st.folder else "missing"
        extra = ""
        if st.folder and verify and ds.files:
            bad = datasets.verify(ds.name, st.folder)
            extra = f"  [{len(ds.files) - len(bad)}/{len(ds.files)} files verify]"
        shipped = f"  (subset shipped in {ds.shipped}/)" if ds.shipped else ""
        typer.echo(f"{ds.name:<17} {where}{extra}{shipped}")
        typer.echo(f"  {ds.title}")
        typer.echo(f"  licence: {ds.licence}")
        fetch = f"  (gaitloop data fetch {ds.name})" if ds.fetchable else ""
        typer.echo(f"  source:  {ds.source}{fetch}")
    typer.echo(f"searched: {datasets.data_root()} (GAITLOOP_DATA), {datasets.cache_dir()} (cache)")


def register(app: typer.Typer, _train: typer.Typer, _eval: typer.Typer) -> None:
    data = typer.Typer(help="Datasets: licences, presence, download of the public ones.")

    @data.callback(invoke_without_command=True)
    def data_main(
        ctx: typer.Context,
        verify: Annotated[bool, typer.Option("--verify", help="Check every registered file's SHA-256.")] = False,
    ) -> None:
        """List every dataset gaitloop uses, its licence, where to get it and whether it is here."""
        if ctx.invoked_subcommand is None:
            _list(verify)

    @data.command("fetch")
    def data_fetch(
        name: Annotated[str, typer.Argument(help="Dataset name (see `gaitloop data`).")],
        dest: Annotated[Path | None, typer.Option(help="Cache folder (default: GAITLOOP_CACHE or ~/.cache/gaitloop/data).")] = None,
    ) -> None:
        """Download a public dataset into the cache and verify every file by SHA-256."""
        from gaitloop import datasets

        folder = datasets.fetch(name, dest=dest, progress=lambda m: typer.echo(f"fetching {m}", err=True))
        typer.echo(f"{name}: {folder}")

    app.add_typer(data, name="data")
